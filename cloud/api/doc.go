// Package api is HQ's HTTP API, under /api/v1. Marketers create offers and
// segments in the offer language, preview them against a basket, and push
// them to every store; analysts read what the offers cost and how customers
// take them up, as JSON, CSV or a live feed. openapi.yaml, served at
// /api/v1/openapi.yaml, describes every route, parameter, body and error.
//
// Replies are JSON. An error is
//
//	{"error": {"code": "<stable code>", "message": "<for people>"}}
//
// with one of the Code constants: a client may act on the code; the
// message names the parameter, field or rule.
//
// Invariants:
//   - Every route but GET /api/v1/openapi.yaml needs a bearer token, in the
//     Authorization header or, for the dashboard on the same origin, in the
//     posoffer_token cookie. An admin token changes offers and segments; an
//     analyst token reads. A change authenticated by the cookie must also
//     show that it comes from the same origin (an X-Requested-With:
//     posoffer header, or the browser's Sec-Fetch-Site or Origin), so that
//     another site cannot make a browser send it.
//   - Tokens are random, shown once, and stored only as SHA-256 hashes.
//   - Bad input writes nothing and never panics: a request is read and
//     checked whole before anything is written, and a change to an offer
//     or a segment is checked with protocol/offer, the code agents run,
//     against the whole catalog the change would leave, under the catalog
//     lock of store.EditCatalog. A change that would leave a catalog an
//     agent refuses is answered 422, and neither the database nor the
//     bucket changes.
//   - The database first, then the catalog bucket: a change is committed
//     with its audit entry, then its key is published. The database is the
//     source of truth. A publish that fails is answered 202 with
//     "published": false and retried in the background with backoff until
//     it succeeds; POST /api/v1/publish makes the whole bucket match the
//     database.
//   - A key is published from what the database holds at the time, which is
//     read again after the put: however two changes of one object race,
//     in one process or across HQ replicas, the bucket ends with the newer.
//   - Everything written to the bucket is signed with HQ's catalog key
//     (Options.Signer), and every publish ends with a signed manifest of
//     the whole catalog, written by compare-and-set so that concurrent
//     publishers do not drop each other's keys; keys are deleted only
//     after the manifest that drops them (protocol/catalogsig).
package api

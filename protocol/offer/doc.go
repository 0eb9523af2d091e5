// Package offer is the offer language: the catalog format, its validation,
// and the evaluator that decides which offers apply to a basket and which
// nearly apply. Agents evaluate with it; HQ validates and previews with it,
// so an offer HQ accepts is one every agent accepts and evaluates alike.
//
// The rules are written down in docs/offers.md; this package is their one
// implementation.
//
// Invariants:
//   - A Catalog is immutable once built and safe for concurrent Evaluate
//     calls.
//   - Evaluate is deterministic: the same catalog, basket, customer, usage
//     counts and clock give the same Result.
//   - Money is integer minor units. Discounts round down once per reward
//     application and never exceed what they discount.
//   - A basket touches only the offers filed under its SKUs, categories,
//     brands and coupons, plus the offers every basket must consider; see
//     index.
package offer

// Package conformance holds tests that run the agent's and HQ's real code
// side by side, the one place where both meet: every event the agent
// records from a message it accepted is one that HQ validates and stores.
// The agent decodes and validates with protocol.Decode, records with
// agent/store, and HQ validates with protocol's (*Event).Validate, through
// cloud/store, whose SQLite store the tests write to.
//
// It has no code of its own; agent and cloud still never import each
// other outside these tests.
package conformance

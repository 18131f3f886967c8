// Package usage decides how much each API key, team and the whole gateway
// have spent in a period (a month, a week, a day), and whether a request may
// spend more.
//
// Before calling Bedrock the gateway reserves the request's worst-case cost
// on every scope that caps it (the key, its team, the global budget) with
// [Store.Reserve]; after the response it settles the actual cost with
// [Store.Settle], which releases the rest of the hold. Reserving is atomic
// across scopes and conditional on every capped scope's committed total
// (spent + reserved + amount <= limit), so concurrency alone never pushes
// settled spend past a cap: only a settlement larger than its reservation
// (the caller's estimation error) can.
//
// A reservation is never simply dropped: a request admitted may have been
// answered (and billed by Bedrock) even if its settlement never arrived.
// Each reservation carries a lease ([Reservation.Expires]); once it has
// expired unsettled, [Store.Sweep] charges the reserved amount, the
// request's worst case, as spent and marks it estimated
// ([Totals.Estimated]). So a crashed gateway or a store that was down only
// ever over-counts, by the difference between worst case and actual cost,
// and never under-counts. Settlement is idempotent by reservation id: a
// retried Settle never charges twice, and a Settle that arrives after its
// reservation was swept replaces the estimated charge with the actual cost,
// exactly once.
//
// Amounts are integer micro-USD (1 USD = 1,000,000). A period is an id the
// caller computes ([Charge.Period]): the gateway's are the calendar month in
// UTC "2026-11", the ISO week "2026-W48" and the day "2026-11-30". Each
// charge of a reservation names its own period, so one request may count
// against a key's month and its day at once, atomically.
//
// The backends live in subpackages, one per dependency: memory (a single
// process, tests), bolt (one file, one process) and dynamo (Amazon DynamoDB,
// shared by every gateway process). storetest holds the conformance suite
// they all pass.
package usage

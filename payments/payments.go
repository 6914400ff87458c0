// Package payments owns how money is collected: the accounts' payment
// methods, (later) the prepaid credit ledger, collection attempts and the
// processors behind them. It never enqueues jobs itself: functions that need
// follow-up work return it, and the caller inserts it in its own transaction.
package payments

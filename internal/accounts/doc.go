// Package accounts owns what happens to a customer account as a whole: its
// standing (suspended when an invoice becomes overdue unpaid, reactivated
// when none remains, decided under the account's lock) and its timeline
// (account_events). The domain packages never call it: they return their
// timeline events as effects, and jobs applies them and decides standing.
// The account's JSON view lives in internal/views.
package accounts

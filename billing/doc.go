// Package billing is the engine's pure core: billing periods in a time zone,
// rating usage against effective-dated prices, the referral rule, VAT,
// totals and rounding, and the dunning schedule, exactly as SPEC §3 and §5
// state them.
//
// It owns no table and makes no call: no database, no network, no clock
// reads. Every function takes its inputs (usage, prices, accounts, the
// current time) and returns its result, so that every rule can be tested
// exhaustively and rerun identically. Money is decimal.Decimal throughout and
// is rounded only by RoundMoney.
package billing

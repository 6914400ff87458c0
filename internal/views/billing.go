package views

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Payment is one entry of an account's payment history (SPEC §14): an
// attempt to collect an invoice, or a movement of its prepaid credit.
type Payment struct {
	// ID is att_N for an attempt, cr_N for a credit movement.
	ID   string    `json:"id"`
	Type string    `json:"type"` // attempt | credit
	At   time.Time `json:"at"`
	// InvoiceNumber is the invoice paid, or the one a credit movement
	// concerns; null for a credit purchase.
	InvoiceNumber *string       `json:"invoice_number"`
	Amount        billing.Money `json:"amount"`
	// An attempt's method (card, sepa_debit), outcome (pending, succeeded,
	// declined, processing, failed) and decline code.
	Method  string `json:"method,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Code    string `json:"code,omitempty"`
	// A credit movement's kind (paypal_purchase, manual_credit,
	// referral_reward, invoice_payment, refund_to_credit,
	// referral_reversal), reference and the balance after it.
	Kind         string         `json:"kind,omitempty"`
	Reference    string         `json:"reference,omitempty"`
	BalanceAfter *billing.Money `json:"balance_after,omitempty"`
}

// ErrBadCursor is returned for an after= that no page handed out.
var ErrBadCursor = errors.New("not a cursor this list handed out")

// PaymentHistory lists an account's attempts and credit movements, newest
// first, limit at a time after the entry named by after ("" for the
// first page). next is the after= of the next page, "" after the last.
func PaymentHistory(ctx context.Context, q pgdb.Executor, accountID, after string, limit int) (page []Payment, next string, err error) {
	var at *time.Time
	var src string
	var id int64
	if after != "" {
		s, n, ok := parsePaymentID(after)
		if !ok {
			return nil, "", ErrBadCursor
		}
		// The entry's own time orders the page, so read it back.
		table := map[string]string{"att": "payment_attempts", "cr": "credit_ledger"}[s]
		var ts time.Time
		if err := q.QueryRow(ctx, `SELECT created_at FROM `+table+` WHERE id = $1`, n).Scan(&ts); errors.Is(err, pgx.ErrNoRows) {
			return nil, "", ErrBadCursor
		} else if err != nil {
			return nil, "", err
		}
		at, src, id = &ts, s, n
	}
	rows, err := q.Query(ctx, `
		SELECT src, id, at, number, method, amount, state, code, kind, reference, balance_after FROM (
			SELECT 'att' AS src, pa.id, pa.created_at AS at, i.number, pa.method, pa.amount, pa.state, pa.code,
			       NULL::text AS kind, NULL::text AS reference, NULL::numeric AS balance_after
			FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id
			WHERE i.account_id = $1
			UNION ALL
			SELECT 'cr', cl.id, cl.created_at, i.number, NULL, cl.amount, NULL, NULL, cl.kind, cl.reference, cl.balance_after
			FROM credit_ledger cl LEFT JOIN invoices i ON i.id = cl.invoice_id
			WHERE cl.account_id = $1
		) h
		WHERE $2::timestamptz IS NULL OR (at, src, id) < ($2, $3::text, $4::bigint)
		ORDER BY at DESC, src DESC, id DESC
		LIMIT $5`, accountID, at, src, id, limit)
	if err != nil {
		return nil, "", err
	}
	page, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Payment, error) {
		var p Payment
		var s string
		var n int64
		var method, state, code, kind, ref *string
		var bal *billing.Money
		if err := r.Scan(&s, &n, &p.At, &p.InvoiceNumber, &method, &p.Amount, &state, &code, &kind, &ref, &bal); err != nil {
			return p, err
		}
		p.At = p.At.UTC()
		p.ID = fmt.Sprintf("%s_%d", s, n)
		if s == "att" {
			p.Type, p.Method, p.Outcome, p.Code = "attempt", *method, *state, *code
		} else {
			p.Type, p.Kind, p.Reference, p.BalanceAfter = "credit", *kind, *ref, bal
		}
		return p, nil
	})
	if err != nil {
		return nil, "", err
	}
	if len(page) == limit {
		next = page[len(page)-1].ID
	}
	return page, next, nil
}

func parsePaymentID(s string) (string, int64, bool) {
	src, num, ok := strings.Cut(s, "_")
	if !ok || (src != "att" && src != "cr") {
		return "", 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return src, n, true
}

// Referrals is an account's referral page (SPEC §14).
type Referrals struct {
	Code     string           `json:"code"`
	Link     string           `json:"link"`
	Referees []Referee        `json:"referees"`
	Rewards  []ReferralReward `json:"rewards"`
}

// Referee is an account the account referred, with its referral window.
type Referee struct {
	AccountID   string         `json:"account_id"`
	Name        string         `json:"name"`
	FirstPeriod billing.Period `json:"first_period"`
	LastPeriod  billing.Period `json:"last_period"`
	MonthsLeft  int            `json:"months_left"`
}

// ReferralReward is what the account earned from its referees in a period.
type ReferralReward struct {
	Period string        `json:"period"`
	Amount billing.Money `json:"amount"`
}

// ReferralCode is an account's referral code: its id, which signup
// already records as referred_by, so a code needs no table of its own.
func ReferralCode(accountID string) string { return accountID }

// GetReferrals returns the account's referral page: its link (linkTemplate
// with {code} replaced), every referee (months_left counts the periods of
// the window from now's, 0 once it is over) and the rewards per period,
// without those cancelled or reversed since.
func GetReferrals(ctx context.Context, q pgdb.Executor, accountID, linkTemplate string, now time.Time, loc *time.Location) (*Referrals, error) {
	code := ReferralCode(accountID)
	out := &Referrals{Code: code, Link: strings.ReplaceAll(linkTemplate, "{code}", url.QueryEscape(code)),
		Referees: []Referee{}, Rewards: []ReferralReward{}}
	rows, err := q.Query(ctx, `SELECT id, name, created_at FROM accounts WHERE referred_by = $1 ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, err
	}
	current := billing.PeriodOf(now, loc)
	out.Referees, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Referee, error) {
		var ref Referee
		var created time.Time
		if err := r.Scan(&ref.AccountID, &ref.Name, &created); err != nil {
			return ref, err
		}
		ref.FirstPeriod = billing.PeriodOf(created, loc)
		ref.LastPeriod = ref.FirstPeriod.Add(billing.ReferralPeriods - 1)
		ref.MonthsLeft = min(billing.ReferralPeriods, max(0, ref.LastPeriod.Sub(current)+1))
		return ref, nil
	})
	if err != nil {
		return nil, err
	}
	// A reward cancelled (void) or taken back (reversed) since, because its
	// referee's invoice was voided, was not earned after all: it is left out.
	rows, err = q.Query(ctx, `
		SELECT r.period, sum(r.amount) FROM referral_rewards r
		WHERE r.referrer_account_id = $1 AND r.state <> 'void' AND NOT EXISTS (SELECT 1 FROM referral_reversals v WHERE v.reward_id = r.id)
		GROUP BY r.period ORDER BY r.period`, accountID)
	if err != nil {
		return nil, err
	}
	out.Rewards, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReferralReward, error) {
		var rw ReferralReward
		err := r.Scan(&rw.Period, &rw.Amount)
		return rw, err
	})
	if out.Referees == nil {
		out.Referees = []Referee{}
	}
	if out.Rewards == nil {
		out.Rewards = []ReferralReward{}
	}
	return out, err
}

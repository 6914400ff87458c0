package payments

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Mandate is a SEPA Core mandate the debtor accepted online (SPEC §14).
type Mandate struct {
	Reference       string           `json:"reference"`
	AccountID       string           `json:"-"`
	PaymentMethodID string           `json:"-"`
	HolderName      string           `json:"holder_name"`
	IBANMasked      string           `json:"iban"`
	BIC             string           `json:"bic,omitempty"`
	AcceptedAt      time.Time        `json:"accepted_at"`
	IP              string           `json:"-"`
	UserAgent       string           `json:"-"`
	Language        billing.Language `json:"-"`
}

// MandateAcceptance is what a debtor gives and how they accepted it.
type MandateAcceptance struct {
	AccountID  string
	IBAN       string // checked with billing.CheckIBAN
	BIC        string // optional
	HolderName string
	// Reference is the mandate's reference (NewMandateReference), given
	// when the processor was told it first; "" makes a new one.
	Reference string
	// PaymentMethodID is the processor's method for this IBAN (pm_…) and
	// ProcessorMandateID the processor's own mandate (Stripe's mandate_…,
	// which its debits name); "" in sandbox mode.
	PaymentMethodID    string
	ProcessorMandateID string
	IP, UserAgent      string
	Language           billing.Language
	At                 time.Time
}

// ErrMandateInput is matched by the errors of a mandate's bad input.
var ErrMandateInput = errors.New("invalid mandate")

type mandateInputError struct{ msg string }

func (e *mandateInputError) Error() string        { return e.msg }
func (e *mandateInputError) Is(target error) bool { return target == ErrMandateInput }

// CheckMandateInput returns the normalized IBAN and BIC of a mandate, or an
// error (ErrMandateInput, or billing.ErrIBAN) naming what is wrong.
func CheckMandateInput(iban, bic, holder string) (string, string, error) {
	n, err := billing.CheckIBAN(iban)
	if err != nil {
		return "", "", err
	}
	bic = strings.ToUpper(strings.TrimSpace(bic))
	if bic != "" && !billing.ValidBIC(bic) {
		return "", "", &mandateInputError{"bic: not a BIC (8 or 11 letters and digits)"}
	}
	holder = strings.TrimSpace(holder)
	if holder == "" || utf8.RuneCountInString(holder) > 70 || strings.ContainsFunc(holder, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", "", &mandateInputError{"holder_name: the account holder's name, 1 to 70 characters"}
	}
	return n, bic, nil
}

// NewMandateReference is a fresh unique mandate reference: MDT- and 16
// characters of Crockford base32 (80 random bits).
func NewMandateReference() string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [16]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = alphabet[int(c)%len(alphabet)]
	}
	return "MDT-" + string(out)
}

// AcceptMandate records a mandate accepted online and makes its SEPA debit
// the account's method, in tx: what follows is in the returned
// MethodsChanged (a payment_method_changed event, the collection of the open
// invoices), for jobs.Enqueue in the same transaction.
func AcceptMandate(ctx context.Context, tx pgx.Tx, a MandateAcceptance) (*Mandate, *MethodsChanged, error) {
	iban, bic, err := CheckMandateInput(a.IBAN, a.BIC, a.HolderName)
	if err != nil {
		return nil, nil, err
	}
	if !a.Language.Valid() {
		a.Language = billing.LanguageEnglish
	}
	if a.Reference == "" {
		a.Reference = NewMandateReference()
	}
	m := &Mandate{Reference: a.Reference, AccountID: a.AccountID, PaymentMethodID: a.PaymentMethodID,
		HolderName: strings.TrimSpace(a.HolderName), IBANMasked: billing.MaskIBAN(iban), BIC: bic,
		AcceptedAt: a.At.UTC().Truncate(time.Microsecond), IP: a.IP, UserAgent: a.UserAgent, Language: a.Language}
	var bicArg *string
	if bic != "" {
		bicArg = &bic
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO sepa_mandates (reference, account_id, payment_method_id, holder_name, iban_masked, iban_country, bic,
		                           accepted_at, accepted_ip, accepted_user_agent, language)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		m.Reference, m.AccountID, m.PaymentMethodID, m.HolderName, m.IBANMasked, iban[:2], bicArg,
		m.AcceptedAt, m.IP, m.UserAgent, string(m.Language)); err != nil {
		return nil, nil, fmt.Errorf("recording mandate: %w", err)
	}
	changed, err := ChangeMethods(ctx, tx, []MethodChange{{AccountID: a.AccountID, Method: Method{Type: MethodSEPADebit, ID: a.PaymentMethodID}}}, a.At)
	if err != nil {
		return nil, nil, err
	}
	if a.ProcessorMandateID != "" {
		if _, err := tx.Exec(ctx, `UPDATE payment_methods SET mandate_id = $2 WHERE account_id = $1 AND replaced_at IS NULL`,
			a.AccountID, a.ProcessorMandateID); err != nil {
			return nil, nil, err
		}
	}
	return m, changed, nil
}

// ErrNoMandate is returned for an account without a SEPA mandate.
var ErrNoMandate = errors.New("no SEPA mandate")

// CurrentMandate returns the account's latest mandate, or ErrNoMandate.
func CurrentMandate(ctx context.Context, q pgdb.Executor, accountID string) (*Mandate, error) {
	var m Mandate
	var bic *string
	err := q.QueryRow(ctx, `
		SELECT reference, account_id, payment_method_id, holder_name, iban_masked, bic, accepted_at,
		       accepted_ip, accepted_user_agent, language
		FROM sepa_mandates WHERE account_id = $1 ORDER BY id DESC LIMIT 1`, accountID).
		Scan(&m.Reference, &m.AccountID, &m.PaymentMethodID, &m.HolderName, &m.IBANMasked, &bic, &m.AcceptedAt,
			&m.IP, &m.UserAgent, &m.Language)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoMandate
	}
	if err != nil {
		return nil, err
	}
	if bic != nil {
		m.BIC = *bic
	}
	m.AcceptedAt = m.AcceptedAt.UTC()
	return &m, nil
}

package ingest

import (
	"context"
	"io"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

var (
	emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
	vatRE   = regexp.MustCompile(`^[A-Z]{2}[0-9A-Z+*]{2,13}$`)
)

// AccountsOptions are Options plus what an accounts import may trigger.
type AccountsOptions struct {
	Options
	// MethodsChanged, when set, is called inside the import's transaction
	// with the accounts whose payment method changed, so that the caller can
	// enqueue the collection of their open invoices atomically with it.
	MethodsChanged func(ctx context.Context, tx pgx.Tx, accountIDs []string) error
}

func accountsSpec(o AccountsOptions) *spec {
	return &spec{
		kind: "accounts",
		fields: []string{"id", "name", "email", "country", "vat_number", "created_at", "referred_by",
			"payment_method.", "payment_method.type", "payment_method.id"},
		stageColumns: `id text COLLATE "C" NOT NULL, name text NOT NULL, email text NOT NULL, country text NOT NULL,
			vat_number text, created_at timestamptz NOT NULL, referred_by text COLLATE "C", pm_type text, pm_id text`,
		columns: []string{"id", "name", "email", "country", "vat_number", "created_at", "referred_by", "pm_type", "pm_id"},
		decode:  decodeAccount,
		checks: []string{
			`INSERT INTO ingest_problems
			 SELECT line, format('id: duplicate id %s in this file (lines %s)', id, lines)
			 FROM (SELECT line, id, count(*) OVER w AS n, string_agg(line::text, ', ') OVER w AS lines
			       FROM ingest_stage WINDOW w AS (PARTITION BY id)) d
			 WHERE n > 1`,
			`INSERT INTO ingest_problems
			 SELECT s.line, format('created_at: cannot change once set (stored %s)', rfc3339(a.created_at))
			 FROM ingest_stage s JOIN accounts a USING (id)
			 WHERE a.created_at <> s.created_at`,
			`INSERT INTO ingest_problems
			 SELECT s.line, format('referred_by: cannot change once set (stored %s)', a.referred_by)
			 FROM ingest_stage s JOIN accounts a USING (id)
			 WHERE a.referred_by IS NOT NULL AND a.referred_by IS DISTINCT FROM s.referred_by`,
			`INSERT INTO ingest_problems
			 SELECT s.line, 'referred_by: an account cannot refer itself'
			 FROM ingest_stage s WHERE s.referred_by = s.id`,
			// The referrer may be stored or in the same file; either way it
			// must have been created strictly earlier.
			`INSERT INTO ingest_problems
			 SELECT s.line, CASE
			     WHEN r.created_at IS NULL THEN format('referred_by: unknown account %s', s.referred_by)
			     ELSE format('referred_by: %s was created at %s, which is not before this account''s created_at %s',
			                 s.referred_by, rfc3339(r.created_at), rfc3339(s.created_at)) END
			 FROM ingest_stage s
			 -- Joins, not a subquery per row: the staged file has no index
			 -- and may hold a hundred thousand accounts.
			 LEFT JOIN (SELECT id, min(created_at) AS created_at FROM ingest_stage GROUP BY id) f ON f.id = s.referred_by
			 LEFT JOIN accounts a ON a.id = s.referred_by
			 CROSS JOIN LATERAL (SELECT coalesce(f.created_at, a.created_at) AS created_at) r
			 WHERE s.referred_by IS NOT NULL AND s.referred_by <> s.id
			   AND (r.created_at IS NULL OR r.created_at >= s.created_at)`,
		},
		apply: func(ctx context.Context, tx pgx.Tx, res *Result) error {
			// Oldest first, so that a referrer in the same file exists before
			// the accounts it referred.
			if err := countUpserts(ctx, tx, res, `
				INSERT INTO accounts (id, name, email, country, vat_number, created_at, referred_by)
				SELECT id, name, email, country, vat_number, created_at, referred_by
				FROM ingest_stage ORDER BY created_at, id
				ON CONFLICT (id) DO UPDATE SET
				    name = EXCLUDED.name, email = EXCLUDED.email, country = EXCLUDED.country,
				    vat_number = EXCLUDED.vat_number, referred_by = EXCLUDED.referred_by, updated_at = now()
				WHERE (accounts.name, accounts.email, accounts.country, accounts.vat_number, accounts.referred_by)
				      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.country, EXCLUDED.vat_number, EXCLUDED.referred_by)
				RETURNING xmax = 0`); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT id, pm_type, pm_id FROM ingest_stage WHERE pm_type IS NOT NULL ORDER BY id`)
			if err != nil {
				return err
			}
			changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (payments.MethodChange, error) {
				var c payments.MethodChange
				err := row.Scan(&c.AccountID, &c.Method.Type, &c.Method.ID)
				return c, err
			})
			if err != nil {
				return err
			}
			changed, err := payments.SetMethods(ctx, tx, changes)
			if err != nil {
				return err
			}
			if len(changed) > 0 && o.MethodsChanged != nil {
				return o.MethodsChanged(ctx, tx, changed)
			}
			return nil
		},
	}
}

func decodeAccount(f *fieldReader) []any {
	id, _ := f.ident("id", true)
	name, _ := f.text("name", true, 300)
	email, ok := f.str("email", true)
	if ok && (len(email) > 254 || !emailRE.MatchString(email)) {
		f.fail("email", "not an email address: %q", email)
	}
	country, ok := f.str("country", true)
	if ok && !billing.ValidCountry(country) {
		f.fail("country", "%q is not an ISO 3166-1 alpha-2 code (upper case, e.g. FR, DE, GB, GR)", country)
	}
	var vat any
	if v, ok := f.str("vat_number", false); ok {
		if !vatRE.MatchString(v) {
			f.fail("vat_number", "%q is not a VAT number: two letters then 2 to 13 letters or digits, without spaces", v)
		}
		vat = v
	}
	created, _ := f.timestamp("created_at", true)
	var ref any
	if r, ok := f.ident("referred_by", false); ok {
		ref = r
	}
	var pmType, pmID any
	if f.present("payment_method.type") || f.present("payment_method.id") {
		t, okT := f.str("payment_method.type", true)
		id, okI := f.ident("payment_method.id", true)
		if okT && !payments.MethodType(t).Valid() {
			f.fail("payment_method.type", "must be card or sepa_debit, got %q", t)
		}
		if okT && okI {
			pmType, pmID = t, id
		}
	}
	if f.msgs != nil {
		return nil
	}
	return []any{id, name, email, country, vat, created, ref, pmType, pmID}
}

// ImportAccounts upserts accounts by id (SPEC §2). created_at and referred_by
// never change once set, and a referrer must be an account created earlier
// (stored, or in the same file). A payment_method on a line becomes the
// account's current method; a line without one leaves the current method in
// place, since methods are also set up through the payment flows.
func ImportAccounts(ctx context.Context, db pgdb.DB, r io.Reader, o AccountsOptions) (*Result, error) {
	return run(ctx, db, r, accountsSpec(o), o.Options)
}

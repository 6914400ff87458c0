package ingest

import (
	"context"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

var (
	emailRE      = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
	postalCodeRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z -]{0,14}[0-9A-Za-z]$|^[0-9A-Za-z]$`)
	frPostalRE   = regexp.MustCompile(`^[0-9]{5}$`)
)

// AccountsOptions are Options plus what an accounts import may trigger.
type AccountsOptions struct {
	Options
	// MethodsChanged, when set, is called inside the import's transaction
	// with the accounts whose payment method changed, so that the caller can
	// enqueue the collection of their open invoices atomically with it.
	MethodsChanged func(ctx context.Context, tx pgx.Tx, accountIDs []string) error
	// Apply, when set, is called inside the import's transaction with what
	// the import implies beyond its own rows: an account_updated timeline
	// event per stored account whose address, VAT number, SIREN or language
	// changed. The caller hands it to jobs.Enqueue; without Apply the
	// events are not recorded.
	Apply func(ctx context.Context, tx pgx.Tx, e billing.Effects) error
	// VATChecker, when set, asks a register (the VIES) about every EU VAT
	// number the file adds or changes, after the local checks passed; a
	// number it does not know is a problem of its line.
	VATChecker VATChecker
	// Now is the time of the timeline events; zero means time.Now.
	Now time.Time
}

func accountsSpec(o AccountsOptions) *spec {
	return &spec{
		kind: "accounts",
		fields: []string{"id", "name", "email", "country", "vat_number", "created_at", "referred_by",
			"payment_method.", "payment_method.type", "payment_method.id",
			"address.", "address.line1", "address.line2", "address.postal_code", "address.city", "address.country",
			"siren", "language"},
		stageColumns: `id text COLLATE "C" NOT NULL, name text NOT NULL, email text NOT NULL, country text NOT NULL,
			vat_number text, created_at timestamptz NOT NULL, referred_by text COLLATE "C", pm_type text, pm_id text,
			address_line1 text, address_line2 text, address_postal_code text, address_city text, address_country text,
			siren text, language text NOT NULL`,
		columns: []string{"id", "name", "email", "country", "vat_number", "created_at", "referred_by", "pm_type", "pm_id",
			"address_line1", "address_line2", "address_postal_code", "address_city", "address_country", "siren", "language"},
		decode:    decodeAccount,
		preChecks: o.vatRegisterCheck,
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
			// Read before the upsert overwrites them: what changed, for
			// the timeline.
			updated, err := legalChanges(ctx, tx, o.now())
			if err != nil {
				return err
			}
			// Oldest first, so that a referrer in the same file exists before
			// the accounts it referred.
			if err := countUpserts(ctx, tx, res, `
				INSERT INTO accounts (id, name, email, country, vat_number, created_at, referred_by,
				                      address_line1, address_line2, address_postal_code, address_city, address_country, siren, language)
				SELECT id, name, email, country, vat_number, created_at, referred_by,
				       address_line1, address_line2, address_postal_code, address_city, address_country, siren, language
				FROM ingest_stage ORDER BY created_at, id
				ON CONFLICT (id) DO UPDATE SET
				    name = EXCLUDED.name, email = EXCLUDED.email, country = EXCLUDED.country,
				    vat_number = EXCLUDED.vat_number, referred_by = EXCLUDED.referred_by,
				    address_line1 = EXCLUDED.address_line1, address_line2 = EXCLUDED.address_line2,
				    address_postal_code = EXCLUDED.address_postal_code, address_city = EXCLUDED.address_city,
				    address_country = EXCLUDED.address_country, siren = EXCLUDED.siren, language = EXCLUDED.language,
				    updated_at = now()
				WHERE (accounts.name, accounts.email, accounts.country, accounts.vat_number, accounts.referred_by,
				       accounts.address_line1, accounts.address_line2, accounts.address_postal_code, accounts.address_city,
				       accounts.address_country, accounts.siren, accounts.language)
				      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.country, EXCLUDED.vat_number, EXCLUDED.referred_by,
				       EXCLUDED.address_line1, EXCLUDED.address_line2, EXCLUDED.address_postal_code, EXCLUDED.address_city,
				       EXCLUDED.address_country, EXCLUDED.siren, EXCLUDED.language)
				RETURNING xmax = 0`); err != nil {
				return err
			}
			if len(updated.Timeline) > 0 && o.Apply != nil {
				if err := o.Apply(ctx, tx, updated); err != nil {
					return err
				}
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
	if ok && !validEmail(email) {
		f.fail("email", "not an email address: %q", email)
	}
	country, ok := f.str("country", true)
	if ok && !billing.ValidCountry(country) {
		f.fail("country", "%q is not an ISO 3166-1 alpha-2 code (upper case, e.g. FR, DE, GB, GR)", country)
	}
	countryOK := ok && billing.ValidCountry(country)
	var siren any
	// validSIREN is what the VAT number is compared with: a SIREN that is
	// wrong already has its own message.
	var validSIREN string
	if s, ok := f.str("siren", false); ok {
		if !billing.ValidSIREN(s) {
			f.fail("siren", "%q is not a SIREN: 9 digits, without spaces, whose last is the Luhn check digit", s)
		} else {
			siren, validSIREN = s, s
		}
	}
	var vat any
	if v, ok := f.str("vat_number", false); ok {
		if countryOK {
			if err := billing.CheckVATNumber(country, v, validSIREN); err != nil {
				f.fail("vat_number", "%s", err)
			}
		}
		vat = v
	}
	addr := decodeAddress(f, country, countryOK)
	lang := billing.DefaultLanguage(country)
	if l, ok := f.str("language", false); ok {
		if !billing.Language(l).Valid() {
			f.fail("language", "must be fr or en, got %q", l)
		}
		lang = billing.Language(l)
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
	return []any{id, name, email, country, vat, created, ref, pmType, pmID,
		addr[0], addr[1], addr[2], addr[3], addr[4], siren, string(lang)}
}

// decodeAddress reads the optional billing address: line1, postal_code and
// city are required once any address field is given, line2 is optional and
// country defaults to the account's. It returns the five columns, all nil
// without an address.
func decodeAddress(f *fieldReader, accountCountry string, countryOK bool) [5]any {
	var out [5]any
	given := false
	for _, n := range []string{"address.line1", "address.line2", "address.postal_code", "address.city", "address.country"} {
		given = given || f.present(n)
	}
	if !given {
		return out
	}
	line1, ok1 := f.text("address.line1", true, 200)
	line2, ok2 := f.text("address.line2", false, 200)
	postal, ok3 := f.str("address.postal_code", true)
	city, ok4 := f.text("address.city", true, 100)
	country, ok5 := f.str("address.country", false)
	if !ok5 {
		country, ok5 = accountCountry, countryOK
	} else if !billing.ValidCountry(country) {
		f.fail("address.country", "%q is not an ISO 3166-1 alpha-2 code (upper case, e.g. FR, DE, GB, GR)", country)
		ok5 = false
	}
	if ok3 {
		switch {
		case ok5 && country == "FR" && !frPostalRE.MatchString(postal):
			f.fail("address.postal_code", "%q is not a French postal code: 5 digits", postal)
		case !postalCodeRE.MatchString(postal):
			f.fail("address.postal_code", "%q is not a postal code: 1 to 16 letters, digits, spaces or hyphens", postal)
		}
	}
	if ok1 && ok3 && ok4 && ok5 {
		out[0], out[2], out[3], out[4] = line1, postal, city, country
		if ok2 {
			out[1] = line2
		}
	}
	return out
}

func (o AccountsOptions) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// legalChanges is an account_updated timeline event for each stored
// account whose legal data the staged line changes, naming the changed
// fields with their values before and after. New accounts have no event:
// their creation is not an update.
func legalChanges(ctx context.Context, tx pgx.Tx, at time.Time) (billing.Effects, error) {
	rows, err := tx.Query(ctx, `
		SELECT s.id, array_agg(ch.field ORDER BY ch.field),
		       jsonb_object_agg(ch.field, jsonb_build_object('before', ch.before, 'after', ch.after))
		FROM ingest_stage s JOIN accounts a USING (id)
		CROSS JOIN LATERAL (VALUES
		    ('address', address_json(a.address_line1, a.address_line2, a.address_postal_code, a.address_city, a.address_country),
		                address_json(s.address_line1, s.address_line2, s.address_postal_code, s.address_city, s.address_country)),
		    ('vat_number', to_jsonb(a.vat_number), to_jsonb(s.vat_number)),
		    ('siren', to_jsonb(a.siren), to_jsonb(s.siren)),
		    ('language', to_jsonb(a.language), to_jsonb(s.language))) ch (field, before, after)
		WHERE ch.before IS DISTINCT FROM ch.after
		GROUP BY s.id ORDER BY s.id`)
	if err != nil {
		return billing.Effects{}, fmt.Errorf("reading changed accounts: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.TimelineEvent, error) {
		ev := billing.TimelineEvent{At: at, Kind: billing.TimelineAccountUpdated}
		var fields []string
		var changes map[string]any
		err := r.Scan(&ev.AccountID, &fields, &changes)
		ev.Data = map[string]any{"fields": fields, "changes": changes}
		return ev, err
	})
	if err != nil {
		return billing.Effects{}, fmt.Errorf("reading changed accounts: %w", err)
	}
	return billing.Effects{Timeline: events, At: at}, nil
}

// ImportAccounts upserts accounts by id (SPEC §2). created_at and referred_by
// never change once set, and a referrer must be an account created earlier
// (stored, or in the same file). A payment_method on a line becomes the
// account's current method; a line without one leaves the current method in
// place, since methods are also set up through the payment flows.
func ImportAccounts(ctx context.Context, db pgdb.DB, r io.Reader, o AccountsOptions) (*Result, error) {
	return run(ctx, db, r, accountsSpec(o), o.Options)
}

// validEmail reports whether s is a bare address emails can go to (SPEC
// §12): one net/mail parses as itself (no display name, no angle
// brackets, no comment), with one @ and no space, at most 254 bytes, as
// the accounts table's CHECK asks.
func validEmail(s string) bool {
	if len(s) > 254 || !emailRE.MatchString(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

package invoices

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices/pdf"
)

// loadDocuments reads what the PDFs of many invoices show, in a few
// queries whatever their number: the invoices, their lines, the catalog's
// words. Unknown numbers are left out.
func loadDocuments(ctx context.Context, q pgdb.Executor, numbers []string) ([]*Document, error) {
	sts, err := queryStored(ctx, q, `SELECT `+invoiceColumns+` FROM invoices i WHERE i.number = ANY($1) ORDER BY i.number`, numbers)
	if err != nil {
		return nil, err
	}
	// The catalog's words as in force at the end of each invoice's period:
	// one query per distinct period end (one, in a run).
	words := map[time.Time]map[string]string{}
	for _, st := range sts {
		inv := st.inv
		if _, ok := words[inv.PeriodEnd]; !ok {
			rows, err := q.Query(ctx, `
				SELECT DISTINCT ON (resource) resource, description FROM prices
				WHERE effective_from < $1 ORDER BY resource, effective_from DESC`, inv.PeriodEnd)
			if err != nil {
				return nil, err
			}
			m := map[string]string{}
			for rows.Next() {
				var r, d string
				if err := rows.Scan(&r, &d); err != nil {
					rows.Close()
					return nil, err
				}
				m[r] = d
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
			words[inv.PeriodEnd] = m
		}
	}
	accounts := make([]string, len(sts))
	for i, st := range sts {
		accounts[i] = st.inv.AccountID
	}
	pay, err := loadPayments(ctx, q, accounts)
	if err != nil {
		return nil, err
	}
	docs := make([]*Document, len(sts))
	for i, st := range sts {
		docs[i] = invoiceDocument(st)
		docs[i].Descriptions = words[st.inv.PeriodEnd]
		docs[i].Payment = pay[st.inv.AccountID]
	}
	return docs, nil
}

// stamp is Document.Stamp from an invoice row.
func stamp(status Status, paid, credit, total billing.Money) string {
	var due billing.Money
	if status != StatusVoid {
		due = total.Sub(paid)
	}
	return fmt.Sprintf("%s|%s|%s|%s", status, paid, credit, due)
}

// latestDocumentSQL is the FROM of a read of the newest version of each of
// the numbers $1: the last entry of each number's primary key range, a loop
// the planner cannot turn into a join (the LIMIT). documents grows from
// nothing to a row per invoice while a month's PDFs are drawn, faster than
// autovacuum analyzes it: `number = ANY($1)` planned without statistics
// scanned it whole for every batch, even planned anew at each call (the
// latest versions' read went from 2.6 s to 15.6 s of a month's documents
// phase, with the timing of autovacuum).
const latestDocumentSQL = `
	FROM unnest($1::text[]) AS q(number)
	CROSS JOIN LATERAL (SELECT * FROM documents d WHERE d.number = q.number ORDER BY d.version DESC LIMIT 1) d`

type latest struct {
	version int
	sha     string
	xmlSHA  string // "" without an e-invoice, or when not asked for
	stamp   string
}

// latestVersions reads the newest version of each of numbers. The digest
// of its e-invoice is only computed for the versions whose PDF is one of
// sameAs (hex SHA-256s; nil for none): it reads and hashes the stored XML,
// and only a version with the very PDF about to be stored needs its XML
// compared.
func latestVersions(ctx context.Context, q pgdb.Executor, numbers, sameAs []string) (map[string]latest, error) {
	// One probe of the primary key per number, whatever the planner knows
	// of the table (see latestDocumentSQL).
	rows, err := q.Query(ctx, `
		SELECT d.number, d.version, d.sha256,
		       CASE WHEN d.sha256 = ANY($2) THEN coalesce(encode(sha256(d.xml), 'hex'), '') ELSE '' END, d.stamp
		`+latestDocumentSQL, numbers, sameAs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]latest{}
	for rows.Next() {
		var n string
		var l latest
		if err := rows.Scan(&n, &l.version, &l.sha, &l.xmlSHA, &l.stamp); err != nil {
			return nil, err
		}
		out[n] = l
	}
	return out, rows.Err()
}

// RenderMany renders the PDFs of many invoices as they are now and stores
// them, in one transaction: every core draws, and a handful of statements
// store the lot. An invoice whose newest PDF already shows its state, or a
// void invoice that has its PDF, is skipped; one whose state changed while
// drawing is left to the render that change asked for. It returns the
// number of new versions stored.
func (r *Renderer) RenderMany(ctx context.Context, db pgdb.DB, numbers []string) (int, error) {
	var invs []string
	for _, n := range numbers {
		if IsCreditNoteNumber(n) {
			if _, err := r.RenderInvoice(ctx, db, n); err != nil {
				return 0, err
			}
			continue
		}
		invs = append(invs, n)
	}
	if len(invs) == 0 {
		return 0, nil
	}
	docs, err := loadDocuments(ctx, db, invs)
	if err != nil {
		return 0, err
	}
	have, err := latestVersions(ctx, db, invs, nil)
	if err != nil {
		return 0, err
	}
	todo := docs[:0]
	for _, d := range docs {
		l, ok := have[d.Number]
		if ok && (l.stamp == d.Stamp() || d.Status == StatusVoid) {
			continue
		}
		todo = append(todo, d)
	}
	pdfs := make([]pdf.File, len(todo))
	xmls := make([][]byte, len(todo)) // nil for a consumer's
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if errs[i] = r.prepare(todo[i]); errs[i] == nil {
					xmls[i] = todo[i].EInvoiceXML
					pdfs[i], errs[i] = pdf.Render(todo[i], r.Seller, r.Fonts, r.Location)
				}
			}
		}()
	}
	for i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("rendering %s: %w", todo[i].Number, err)
		}
	}

	// Digested before the transaction, not while it holds the invoices.
	shas := make([]string, len(todo))
	for i := range todo {
		sum := sha256.Sum256(pdfs[i].Bytes)
		shas[i] = hex.EncodeToString(sum[:])
	}
	stored := 0
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		stored = 0
		// The payment status can't move until these versions are stored,
		// and a concurrent render of the same invoices waits, then finds
		// the version this one stored (a share lock would let both pick
		// the same next version number).
		rows, err := tx.Query(ctx, `SELECT number, status, amount_paid, credit_applied, total FROM invoices WHERE number = ANY($1) ORDER BY id FOR NO KEY UPDATE`, invs)
		if err != nil {
			return err
		}
		now := map[string]string{}
		for rows.Next() {
			var n string
			var st Status
			var paid, credit, total billing.Money
			if err := rows.Scan(&n, &st, &paid, &credit, &total); err != nil {
				rows.Close()
				return err
			}
			now[n] = stamp(st, paid, credit, total)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		have, err := latestVersions(ctx, tx, invs, shas)
		if err != nil {
			return err
		}
		var copyRows [][]any
		parts := map[[32]byte][]byte{}
		for i, d := range todo {
			if now[d.Number] != d.Stamp() {
				continue
			}
			sha := shas[i]
			xsha := ""
			if xmls[i] != nil {
				xs := sha256.Sum256(xmls[i])
				xsha = hex.EncodeToString(xs[:])
			}
			l, ok := have[d.Number]
			if ok && l.sha == sha && l.xmlSHA == xsha {
				continue
			}
			var xml any // NULL for a consumer's document, not an empty bytea
			if xmls[i] != nil {
				xml = xmls[i]
			}
			s, err := split(pdfs[i], parts)
			if err != nil {
				return fmt.Errorf("storing %s: %w", d.Number, err)
			}
			names, at := s.columns()
			copyRows = append(copyRows, []any{d.Number, int32(l.version + 1), sha, s.rest, names, at, d.Stamp(), xml})
		}
		if len(copyRows) == 0 {
			return nil
		}
		if err := storeParts(ctx, tx, parts); err != nil {
			return err
		}
		// COPY, not an INSERT of unnest()ed arrays: a batch is megabytes of
		// PDF, which as one bytea[] parameter was built in one buffer
		// grown again and again (a tenth of the worker's CPU), then taken
		// apart again by Postgres; COPY streams the rows as they are.
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"documents"}, []string{"number", "version", "sha256", "pdf", "parts", "part_at", "stamp", "xml"}, pgx.CopyFromRows(copyRows))
		stored = int(n)
		return err
	})
	return stored, err
}

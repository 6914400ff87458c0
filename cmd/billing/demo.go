package main

import (
	"context"
	"fmt"
	"io"

	"github.com/billingengine/engine/internal/db"
	"github.com/billingengine/engine/internal/ingest"
	"github.com/billingengine/engine/internal/sample"
)

// runDemo tells the engine's story on the bundled sample data: it migrates
// the database, imports the sample files and prints what it did. It is safe
// to run twice: imports of identical lines change nothing.
func runDemo(ctx context.Context, a *app) error {
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	w := a.stderr
	fmt.Fprintln(w, "== migrate")
	applied, err := db.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %d migrations applied\n", len(applied))

	fmt.Fprintln(w, "== import the sample data")
	for _, f := range sample.Files {
		r, err := sample.Open(f.Name)
		if err != nil {
			return err
		}
		o := ingest.Options{Name: f.Name, Report: func(p ingest.Problem) { fmt.Fprintln(w, p.String(f.Name)) }}
		var res *ingest.Result
		switch f.Kind {
		case "catalog":
			res, err = ingest.ImportCatalog(ctx, pool, r, o)
		case "accounts":
			res, err = ingest.ImportAccounts(ctx, pool, r, ingest.AccountsOptions{Options: o})
		case "usage":
			res, err = ingest.ImportUsage(ctx, pool, r, o)
		}
		r.Close()
		if err != nil {
			return err
		}
		printImport(w, res)
	}
	return nil
}

func printImport(w io.Writer, r *ingest.Result) {
	fmt.Fprintf(w, "   %-22s %-8s %4d lines: %d inserted, %d updated, %d unchanged\n",
		r.File, r.Kind, r.Lines, r.Inserted, r.Updated, r.Unchanged)
}

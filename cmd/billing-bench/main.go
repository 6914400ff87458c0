// Command billing-bench is the benchmark harness of `make bench`:
//
//	billing-bench gen -dir DIR [-accounts N] [-segments M]   # the data set as NDJSON files
//	billing-bench run [-accounts N] [-segments M] [-workers W] # generate, load and measure every phase
//	billing-bench lists [-invoices N] [-repeat R]             # the finance listings on N generated invoices
//
// run needs DATABASE_URL to name a fresh database and drives the real
// binary (bin/billing) and real worker processes.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/billingengine/engine/internal/benchdata"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "run" {
		if err := runBench(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "billing-bench:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) >= 2 && os.Args[1] == "lists" {
		if err := listsBench(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "billing-bench:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "gen" {
		fmt.Fprintln(os.Stderr, "usage: billing-bench gen -dir DIR [-accounts N] [-segments M] [-seed S] [-period YYYY-MM]\n"+
			"       billing-bench run [-accounts N] [-segments M] [-seed S] [-workers W] [-billing bin/billing] [-json FILE]\n"+
			"       billing-bench lists [-invoices N] [-repeat R]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", ".", "where to write catalog.ndjson, accounts.ndjson and usage.ndjson")
	p := benchdata.Params{}
	fs.IntVar(&p.Accounts, "accounts", 100_000, "accounts")
	fs.IntVar(&p.Segments, "segments", 5_000_000, "usage segments")
	fs.Uint64Var(&p.Seed, "seed", 1, "random seed")
	fs.StringVar(&p.Period, "period", "2026-10", "the month of usage")
	_ = fs.Parse(os.Args[2:])
	for name, gen := range map[string]func(io.Writer, benchdata.Params) error{
		"catalog.ndjson": benchdata.Catalog, "accounts.ndjson": benchdata.Accounts, "usage.ndjson": benchdata.Usage,
	} {
		f, err := os.Create(filepath.Join(*dir, name))
		if err == nil {
			err = gen(f, p)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "billing-bench:", err)
			os.Exit(1)
		}
	}
}

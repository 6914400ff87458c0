package main

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/config"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/paypal"
)

// parseAmount reads --amount: a usage error when it isn't an amount.
func parseAmount(s string) (decimal.Decimal, error) {
	d, err := billing.ParseAmount(s)
	if err != nil {
		return decimal.Zero, usageError{fmt.Errorf("--amount: %w", err)}
	}
	return d, nil
}

func newCreditCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "credit", Short: "Prepaid credit"}

	var account, amount, reference string
	add := &cobra.Command{
		Use:   "add --account ID --amount X --reference REF",
		Short: "Add prepaid credit by hand (idempotent by reference); open invoices are collected at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			amt, err := parseAmount(amount)
			if err != nil {
				return err
			}
			if reference == "" {
				return usagef("--reference is required: it makes the credit idempotent")
			}
			if err := checkText("--account", account); err != nil {
				return err
			}
			if err := checkText("--reference", reference); err != nil {
				return err
			}
			// The ledger holds references of up to 200 characters, "manual:" included.
			if n := utf8.RuneCountInString(reference); n > maxReferenceChars {
				return fmt.Errorf("--reference is %d characters long: at most %d", n, maxReferenceChars)
			}
			ctx := cmd.Context()
			pool, client, err := a.dbJobs(ctx)
			if err != nil {
				return err
			}
			res, err := addCredit(ctx, pool, client, account, payments.EntryManualCredit, amt, "manual:"+reference, reference)
			if err != nil {
				return err
			}
			return writeJSON(a.stdout, res)
		},
	}
	add.Flags().StringVar(&account, "account", "", "the account (required)")
	add.Flags().StringVar(&amount, "amount", "", "the amount in EUR, e.g. 25.00 (required)")
	add.Flags().StringVar(&reference, "reference", "", "finance's reference for this credit (required; unique)")
	for _, f := range []string{"account", "amount", "reference"} {
		_ = add.MarkFlagRequired(f)
	}

	var buyAccount, buyAmount string
	buy := &cobra.Command{
		Use:   "buy --account ID --amount X",
		Short: "Buy prepaid credit with PayPal: prints the approval link (the sandbox approves and captures at once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.requirePayPal(); err != nil {
				return err
			}
			if a.cfg.PayPal == config.PayPalOff {
				return usageError{paypal.ErrPurchasesOff}
			}
			amt, err := parseAmount(buyAmount)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			if _, err := views.GetAccount(ctx, pool, buyAccount); err != nil {
				return err
			}
			purchaser, err := a.purchaser()
			if err != nil {
				return err
			}
			purchase, err := paypal.Buy(ctx, pool, purchaser, buyAccount, amt, a.cfg.CreditPurchaseMax)
			if err != nil {
				return err
			}
			if _, sandbox := purchaser.(paypal.Sandbox); !sandbox {
				return writeJSON(a.stdout, purchase)
			}
			client, err := jobs.NewInsertClient(pool)
			if err != nil {
				return err
			}
			c, err := paypal.CaptureOrder(ctx, purchaser, purchase.OrderID)
			if err != nil {
				return err
			}
			err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				captured, err := paypal.RecordCapture(ctx, tx, c, time.Now())
				if err != nil {
					return err
				}
				_, err = jobs.Enqueue(ctx, tx, client, captured.Effects)
				return err
			})
			if err != nil {
				return err
			}
			purchase.Status = c.Status
			return writeJSON(a.stdout, purchase)
		},
	}
	buy.Flags().StringVar(&buyAccount, "account", "", "the account (required)")
	buy.Flags().StringVar(&buyAmount, "amount", "", "the amount in EUR (required)")
	_ = buy.MarkFlagRequired("account")
	_ = buy.MarkFlagRequired("amount")

	cmd.AddCommand(add, buy)
	return cmd
}

// maxReferenceChars bounds finance's --reference.
const maxReferenceChars = 200 - len("manual:")

// creditResult is what `credit add` prints.
type creditResult struct {
	AccountID   string `json:"account_id"`
	Amount      string `json:"amount"`
	Reference   string `json:"reference"`
	Created     bool   `json:"created"`
	Balance     string `json:"credit_balance"`
	Collections int    `json:"collections_enqueued"`
}

// addCredit writes a credit entry and, when it is new, what follows from
// it (jobs.Enqueue: the timeline event, collecting the account's open
// invoices), in one transaction.
func addCredit(ctx context.Context, pool *pgxpool.Pool, client *jobs.Client, accountID string, kind payments.EntryKind, amount decimal.Decimal, ledgerRef, shownRef string) (*creditResult, error) {
	res := &creditResult{AccountID: accountID, Amount: billing.FormatMoney(amount), Reference: shownRef}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := views.GetAccount(ctx, tx, accountID); err != nil {
			return err
		}
		credited, err := payments.AddCredit(ctx, tx, payments.NewEntry{AccountID: accountID, Kind: kind, Amount: amount, Reference: ledgerRef}, shownRef)
		if err != nil {
			return err
		}
		res.Created = credited.Created
		res.Balance = billing.FormatMoney(credited.Entry.BalanceAfter)
		if !credited.Created {
			acc, err := views.GetAccount(ctx, tx, accountID)
			if err != nil {
				return err
			}
			res.Balance = acc.CreditBalance
			return nil
		}
		enq, err := jobs.Enqueue(ctx, tx, client, credited.Effects)
		res.Collections = enq.Collections
		return err
	})
	if errors.Is(err, views.ErrAccountNotFound) {
		return nil, err
	}
	var conflict *payments.ReferenceConflictError
	if errors.As(err, &conflict) {
		// Said with finance's reference, not the ledger's "manual:" one.
		return nil, fmt.Errorf("reference %s is already used by a credit of %s for account %s: nothing added",
			shownRef, billing.FormatMoney(conflict.Existing.Amount.Abs()), conflict.Existing.AccountID)
	}
	if err != nil {
		return nil, fmt.Errorf("adding credit: %w", err)
	}
	return res, nil
}

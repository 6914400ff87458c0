// Package config reads the engine's settings from the environment (SPEC §7),
// once, into a typed value that the rest of the program receives. Nothing
// else reads os.Getenv, so every setting is listed here with its default.
package config

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/billingengine/engine/billing"
)

// Config is every setting of the engine.
type Config struct {
	// DatabaseURL is the Postgres connection string (DATABASE_URL).
	DatabaseURL string
	// Location is the billing time zone (BILLING_TIMEZONE, default UTC):
	// periods start at midnight on the 1st there.
	Location *time.Location
	// SellerCountry is the seller's ISO country (SELLER_COUNTRY, default FR).
	SellerCountry string
	// VATRates is the table of standard rates, with BILLING_VAT_RATES
	// overrides ("FR=20,DE=19").
	VATRates billing.VATRates
	// Schedule is the monthly run's cron spec in the billing time zone
	// (BILLING_SCHEDULE, default "30 0 1 * *"; "off" disables it).
	Schedule string
	// ShardSize is the number of accounts drafted per job (BILLING_SHARD_SIZE,
	// default 500); FinalizeChunk the number of invoices finalized per
	// transaction (BILLING_FINALIZE_CHUNK, default 1000).
	ShardSize     int
	FinalizeChunk int
	// JobTimeout bounds one job execution (BILLING_JOB_TIMEOUT, default 30s);
	// RescueAfter is when a job left running by a killed process is retried
	// (BILLING_RESCUE_AFTER, default 45s; it must exceed JobTimeout).
	JobTimeout  time.Duration
	RescueAfter time.Duration
}

// FromEnv reads the configuration from the process environment.
func FromEnv() (*Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup reads the configuration through lookup, so that tests can pass
// an environment of their own.
func FromLookup(lookup func(string) (string, bool)) (*Config, error) {
	get := func(k, def string) string {
		if v, ok := lookup(k); ok && v != "" {
			return v
		}
		return def
	}
	c := &Config{
		DatabaseURL:   get("DATABASE_URL", ""),
		SellerCountry: get("SELLER_COUNTRY", "FR"),
	}
	tz := get("BILLING_TIMEZONE", "UTC")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("BILLING_TIMEZONE: unknown time zone %q", tz)
	}
	c.Location = loc
	if c.VATRates, err = billing.ParseVATRates(get("BILLING_VAT_RATES", "")); err != nil {
		return nil, fmt.Errorf("BILLING_VAT_RATES: %w", err)
	}
	if _, ok := c.VATRates[c.SellerCountry]; !ok {
		return nil, fmt.Errorf("SELLER_COUNTRY: %q is not an EU member with a VAT rate", c.SellerCountry)
	}
	c.Schedule = get("BILLING_SCHEDULE", "30 0 1 * *")
	if c.Schedule == "off" {
		c.Schedule = ""
	}
	ints := []struct {
		name string
		def  string
		dst  *int
	}{
		{"BILLING_SHARD_SIZE", "500", &c.ShardSize},
		{"BILLING_FINALIZE_CHUNK", "1000", &c.FinalizeChunk},
	}
	for _, i := range ints {
		if *i.dst, err = strconv.Atoi(get(i.name, i.def)); err != nil || *i.dst < 1 {
			return nil, fmt.Errorf("%s: want a positive integer", i.name)
		}
	}
	durations := []struct {
		name string
		def  string
		dst  *time.Duration
	}{
		{"BILLING_JOB_TIMEOUT", "30s", &c.JobTimeout},
		{"BILLING_RESCUE_AFTER", "45s", &c.RescueAfter},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: want a duration such as 30s", d.name)
		}
		*d.dst = v
	}
	if c.RescueAfter <= c.JobTimeout {
		return nil, fmt.Errorf("BILLING_RESCUE_AFTER (%s) must exceed BILLING_JOB_TIMEOUT (%s)", c.RescueAfter, c.JobTimeout)
	}
	return c, nil
}

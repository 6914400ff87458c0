// Package config reads the engine's settings from the environment (SPEC §7),
// once, into a typed value that the rest of the program receives. Nothing
// else reads os.Getenv, so every setting is listed here with its default.
package config

import (
	"fmt"
	"os"
	"time"
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
	return c, nil
}

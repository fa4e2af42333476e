package cli

import (
	"context"

	"github.com/hubsync/hubsync/sync/check"
)

var checkSettings = []string{"DATABASE_URL", "HUB_API_URL", "HUB_PARTNER_ID", "HUB_API_KEY", "HUB_TOKEN",
	"HUBSYNC_SCHEDULE", "HUBSYNC_PAGE_SIZE", "HUBSYNC_CONCURRENCY", "HUBSYNC_RATE_LIMIT"}

// cmdCheck is `hubsync check`: the read-only first contact (package check).
// Settings are parsed and validated exactly as for sync; a bad one exits 2
// before anything is contacted.
func cmdCheck(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("check", "hubsync check [--pages N] [--sample N] [--json] [flags]\n\n"+
		"Read-only first contact with the Partner API and the database: settings,\n"+
		"database and migrations, API credential, the first pages of the listing and\n"+
		"a sample of shared numbers checked against the OpenAPI document, pace and\n"+
		"an estimate of a full sync. Writes nothing.\n\n"+
		"Exit status: 0 a sync would work (warnings allowed), 1 it would fail or\n"+
		"lose data, 2 configuration error.", env)
	pages := fs.Int("pages", check.DefaultPages, "list pages to read (with HUBSYNC_PAGE_SIZE clients each)")
	sample := fs.Int("sample", check.DefaultSample, "clients whose shared numbers are read, spread across the pages")
	asJSON := fs.Bool("json", false, "print the report as a JSON document (see the README for its fields)")
	load := bind(fs, env.Getenv, checkSettings...)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("check: unexpected argument %q", fs.Arg(0))
	}
	if *pages < 1 || *pages > 1000 {
		return usagef("--pages: must be a whole number from 1 to 1000 (got %d)", *pages)
	}
	if *sample < 0 || *sample > 10000 {
		return usagef("--sample: must be a whole number from 0 to 10000 (got %d)", *sample)
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if err := cfg.requireAPI(); err != nil {
		return err
	}
	rep := check.Run(ctx, check.Config{
		DatabaseURL: cfg.DatabaseURL,
		BaseURL:     cfg.APIURL, PartnerID: cfg.PartnerID, APIKey: cfg.APIKey, Token: cfg.Token,
		PageSize: cfg.PageSize, Concurrency: cfg.Concurrency, RateLimit: cfg.RateLimit,
		Schedule: cfg.Schedule, Pages: *pages, Sample: *sample,
	})
	if *asJSON {
		err = rep.WriteJSON(env.Stdout)
	} else {
		err = rep.WriteText(env.Stdout)
	}
	if err != nil {
		return err
	}
	if rep.ExitCode != ExitOK {
		return &exitError{code: rep.ExitCode}
	}
	return nil
}

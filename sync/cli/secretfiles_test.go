package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubsync/hubsync/sync/cli"
	"github.com/hubsync/hubsync/sync/fakehub"
)

// writeSecret writes content to a new file in dir and returns its path.
func writeSecret(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretsFromFiles: HUB_API_KEY_FILE, HUB_TOKEN_FILE and
// DATABASE_URL_FILE are read (one trailing newline dropped) and used as the
// settings themselves; a file that is missing, unreadable, empty or too
// large, or set together with its variable, is a configuration error (exit
// 2) naming the variable and the path but never the content.
func TestSecretsFromFiles(t *testing.T) {
	t.Parallel()

	t.Run("files are used", func(t *testing.T) {
		t.Parallel()
		h := setup(t, fakehub.Config{Token: "tok-from-a-file-7781"})
		dir := t.TempDir()
		dbURL := h.env["DATABASE_URL"]
		delete(h.env, "DATABASE_URL")
		delete(h.env, "HUB_API_KEY")
		h.env["DATABASE_URL_FILE"] = writeSecret(t, dir, "db", dbURL+"\n")
		h.env["HUB_TOKEN_FILE"] = writeSecret(t, dir, "token", "tok-from-a-file-7781\r\n")
		h.sync(cli.ExitOK)
		clients, _ := h.hub.Counts()
		if n := h.count(`SELECT count(*) FROM hub.clients`); n != clients {
			t.Errorf("sync with the token and database URL from files stored %d clients; the simulator has %d", n, clients)
		}

		// The key file, without a trailing newline, and a wrong token file
		// shows that the file's content is what is sent.
		delete(h.env, "HUB_TOKEN_FILE")
		h.env["HUB_API_KEY_FILE"] = writeSecret(t, dir, "key", h.hub.Config().APIKey)
		h.sync(cli.ExitOK)
		h.env["HUB_API_KEY_FILE"] = writeSecret(t, dir, "wrong-key", "not-the-key-5521\n")
		code, out, errs := h.run(context.Background(), "sync")
		if code != cli.ExitFailed {
			t.Errorf("sync with a wrong key in HUB_API_KEY_FILE exited %d, want %d (401)\nstdout:\n%s\nstderr:\n%s", code, cli.ExitFailed, out, errs)
		}
		if strings.Contains(out+errs, "not-the-key-5521") {
			t.Errorf("the key read from the file appears in the output:\n%s\n%s", out, errs)
		}
	})

	dir := t.TempDir()
	const content = "s3cret-content-4412"
	good := writeSecret(t, dir, "good", content+"\n")
	empty := writeSecret(t, dir, "empty", "")
	newline := writeSecret(t, dir, "newline", "\n")
	huge := writeSecret(t, dir, "huge", strings.Repeat(content, 10000))
	badURL := writeSecret(t, dir, "bad-url", "mysql://admin:"+content+"@db/x\n")
	missing := filepath.Join(dir, "missing")
	base := map[string]string{
		"HUB_API_URL":    "http://127.0.0.1:1",
		"HUB_PARTNER_ID": "p",
		"DATABASE_URL":   "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable",
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want []string // in the message
	}{
		{"variable and file both set", map[string]string{"HUB_API_KEY": content, "HUB_API_KEY_FILE": good}, []string{"sync"},
			[]string{"HUB_API_KEY and HUB_API_KEY_FILE are both set"}},
		{"missing file", map[string]string{"HUB_API_KEY_FILE": missing}, []string{"sync"},
			[]string{"HUB_API_KEY_FILE", missing, "no such file"}},
		{"a directory", map[string]string{"HUB_TOKEN_FILE": dir}, []string{"sync"},
			[]string{"HUB_TOKEN_FILE", dir, "is a directory"}},
		{"empty file", map[string]string{"HUB_TOKEN_FILE": empty}, []string{"sync"},
			[]string{"HUB_TOKEN_FILE", empty, "is empty"}},
		{"only a newline", map[string]string{"HUB_API_KEY_FILE": newline}, []string{"sync"},
			[]string{"HUB_API_KEY_FILE", newline, "is empty"}},
		{"too large", map[string]string{"HUB_API_KEY_FILE": huge}, []string{"sync"},
			[]string{"HUB_API_KEY_FILE", huge, "larger than"}},
		{"database URL file and variable", map[string]string{"DATABASE_URL_FILE": good}, []string{"migrate", "status"},
			[]string{"DATABASE_URL and DATABASE_URL_FILE are both set"}},
		{"malformed database URL in the file", map[string]string{"DATABASE_URL": "", "DATABASE_URL_FILE": badURL}, []string{"migrate", "status"},
			[]string{"DATABASE_URL_FILE", badURL, "must be a postgres:// URL"}},
		{"missing database URL file", map[string]string{"DATABASE_URL": "", "DATABASE_URL_FILE": missing}, []string{"serve"},
			[]string{"DATABASE_URL_FILE", missing}},
		{"missing file with the flag given", map[string]string{"HUB_API_KEY_FILE": missing}, []string{"sync", "--api-key", "k"},
			[]string{"HUB_API_KEY_FILE", missing}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range c.env {
				env[k] = v
			}
			var out, errb bytes.Buffer
			code := cli.Run(context.Background(), c.args, cli.Env{
				Getenv: func(k string) string { return env[k] },
				Stdout: &out, Stderr: &errb,
				Terminal: func() bool { return false },
			})
			msg := errb.String()
			if code != cli.ExitUsage {
				t.Fatalf("hubsync %s exited %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(c.args, " "), code, cli.ExitUsage, out.String(), msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(out.String()+msg, content) {
				t.Errorf("the secret's content appears in the output:\nstdout:\n%s\nstderr:\n%s", out.String(), msg)
			}
		})
	}
}

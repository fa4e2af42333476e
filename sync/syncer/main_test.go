package syncer_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// binDir holds the hubsync binary built for the subprocess tests.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	// The suite waits on HTTP and Postgres far more than it computes: run
	// more tests at once than there are cores, unless told otherwise.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(max(8, 4*runtime.GOMAXPROCS(0))))
	}
	dir, err := os.MkdirTemp("", "hubsync-syncer-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  []byte
)

// hubsyncBinary builds ./cmd/hubsync once per test binary and returns its
// path.
func hubsyncBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "hubsync")
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "github.com/hubsync/hubsync/cmd/hubsync")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/hubsync: %v\n%s", buildErr, buildOut)
	}
	return bin
}

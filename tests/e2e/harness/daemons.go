package harness

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// BuildDir is the Sandbox Guard CMake build directory: $SG_BUILD_DIR, else
// <repo>/build (found from this source file's location).
func BuildDir() string {
	if d := os.Getenv("SG_BUILD_DIR"); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "build"
	}
	// file is <repo>/tests/e2e/harness/daemons.go
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "build")
}

// Daemon returns the path of a Sandbox Guard binary in BuildDir()/bin
// (e.g. "sandbox-guard-webhook", "sandbox-guard-extender"), or skips the
// test with a clear message when it has not been built.
func Daemon(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(BuildDir(), "bin", name)
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Skipf("%s not built (looked for %s; set SG_BUILD_DIR or build the project first)", name, p)
	}
	return p
}

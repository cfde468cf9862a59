package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Builds builds each main package once for all the tests of one test binary, which then
// start the same binary without each spending seconds linking it. Nothing is built until a
// test asks (a -short run builds nothing). Declare one in the test package and remove what
// it built when the tests end, which Main does:
//
//	var builds proctest.Builds
//
//	func TestMain(m *testing.M) { builds.Main(m) }
type Builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// Build returns the binary of the main package pkg (as for Build), building it on first use.
// A build that fails fails the test that asked; the next asks again.
func (b *Builds) Build(t testing.TB, pkg string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.bins[pkg]; ok {
		return bin
	}
	if b.dir == "" {
		dir, err := os.MkdirTemp("", "proctest-builds-")
		if err != nil {
			t.Fatal(err)
		}
		b.dir, b.bins = dir, map[string]string{}
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Numbered: two packages may share a base name.
	bin := filepath.Join(b.dir, strconv.Itoa(len(b.bins))+"-"+filepath.Base(pkg))
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	b.bins[pkg] = bin
	return bin
}

// Main is a TestMain that runs the tests, removes what they built and exits with their status.
func (b *Builds) Main(m *testing.M) {
	code := m.Run()
	b.Remove()
	os.Exit(code)
}

// Remove deletes the binaries built so far. Call it once every test has ended.
func (b *Builds) Remove() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir == "" {
		return
	}
	if err := os.RemoveAll(b.dir); err != nil {
		fmt.Fprintf(os.Stderr, "proctest: remove built binaries: %v\n", err)
	}
	b.dir, b.bins = "", nil
}

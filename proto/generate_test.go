package proto_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/beacon/eventdispatch/internal/gentest"
)

// TestGeneratedCode_IsCurrent regenerates into a scratch directory and compares it with the
// committed internal/gen, so a proto change without `make generate` fails the build.
func TestGeneratedCode_IsCurrent(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "tool", "buf", "generate", "--output", scratch)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, out)
	}
	gentest.Same(t, filepath.Join(scratch, "internal", "gen"), filepath.Join(root, "internal", "gen"), "internal/gen", "make generate")
}

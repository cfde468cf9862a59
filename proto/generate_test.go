package proto_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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

	fresh := snapshot(t, filepath.Join(scratch, "internal", "gen"))
	committed := snapshot(t, filepath.Join(root, "internal", "gen"))
	for path, want := range fresh {
		if got, ok := committed[path]; !ok {
			t.Errorf("internal/gen/%s is missing: run make generate", path)
		} else if !bytes.Equal(got, want) {
			t.Errorf("internal/gen/%s is stale: run make generate", path)
		}
	}
	for path := range committed {
		if _, ok := fresh[path]; !ok {
			t.Errorf("internal/gen/%s is not generated from proto/: remove it or run make generate", path)
		}
	}
}

func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[rel], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Package gentest checks that committed generated files are current: a test regenerates them
// into a scratch directory and compares that with the committed tree, file by file. Only
// tests import it (proto/ for internal/gen, internal/webui for the page's bundle).
package gentest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Same fails the test unless committed holds exactly the files of fresh, byte for byte.
// name is how committed is shown in the failures, and regenerate the command that fixes them.
func Same(t testing.TB, fresh, committed, name, regenerate string) {
	t.Helper()
	want, got := snapshot(t, fresh), snapshot(t, committed)
	for path, b := range want {
		if c, ok := got[path]; !ok {
			t.Errorf("%s/%s is missing: run %s", name, path, regenerate)
		} else if !bytes.Equal(c, b) {
			t.Errorf("%s/%s is stale: run %s", name, path, regenerate)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("%s/%s is not generated: remove it or run %s", name, path, regenerate)
		}
	}
}

func snapshot(t testing.TB, dir string) map[string][]byte {
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

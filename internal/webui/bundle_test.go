package webui_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/beacon/eventdispatch/internal/gentest"
	"github.com/beacon/eventdispatch/internal/stack"
)

// TestBundle_IsCurrent rebuilds the page from web/ in a scratch copy (npm ci from the
// lockfile, protoc-gen-es from proto/, a type check, esbuild) and compares the result with
// what is committed: web/src/gen and internal/webui/dist. A change to the page, the proto or
// the lockfile without `make web` fails here.
func TestBundle_IsCurrent(t *testing.T) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			stack.Missing(t, tool+" not found: the page is built with Node.js and npm ("+err.Error()+")")
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(root, "web")
	scratch := t.TempDir()
	copySources(t, web, scratch)

	sh(t, scratch, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	template := filepath.Join(scratch, "buf.gen.yaml")
	plugin := filepath.Join(scratch, "node_modules", ".bin", "protoc-gen-es")
	if err := os.WriteFile(template, []byte(`version: v2
clean: true
inputs:
  - directory: proto
plugins:
  - local: `+plugin+`
    out: `+filepath.Join(scratch, "src", "gen")+`
    opt: target=ts
`), 0o600); err != nil {
		t.Fatal(err)
	}
	sh(t, root, "go", "tool", "buf", "generate", "--template", template)
	sh(t, scratch, "npm", "run", "--silent", "check")
	sh(t, scratch, "node", "build.mjs", filepath.Join(scratch, "dist"))

	gentest.Same(t, filepath.Join(scratch, "src", "gen"), filepath.Join(web, "src", "gen"), "web/src/gen", "make web")
	gentest.Same(t, filepath.Join(scratch, "dist"), filepath.Join(root, "internal", "webui", "dist"), "internal/webui/dist", "make web")
}

func sh(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// copySources copies the page's sources from web to dir: everything but what is installed
// (node_modules) or generated (src/gen).
func copySources(t *testing.T, web, dir string) {
	t.Helper()
	err := filepath.WalkDir(web, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(web, path)
		if err != nil {
			return err
		}
		switch {
		case rel == "node_modules" || rel == filepath.Join("src", "gen"):
			return fs.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

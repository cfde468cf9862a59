package app_test

import (
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's table of where things live names every package of cmd/ and internal/ (the
// generated ones under internal/gen as one), by its path or, for a package inside another,
// by its name in its parent's row: a package added without a row is one a newcomer cannot
// place.
func TestREADME_WhereThingsLiveNamesEveryPackage(t *testing.T) {
	root := filepath.Join("..", "..")
	table := readmeAfter(t, "[docs/architecture.md](docs/architecture.md). Where things live:")
	named := map[string][]string{} // a path named in the first cell: the row's other names
	code := regexp.MustCompile("`([^`]+)`")
	for line := range strings.SplitSeq(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `") {
			continue
		}
		var words []string
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			words = append(words, m[1])
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			named[m[1]] = words
		}
	}
	if len(named) == 0 {
		t.Fatal("no rows found in the README's table of where things live")
	}
	packages := map[string]bool{}
	for _, top := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "gen" && filepath.Dir(p) == filepath.Join(root, "internal") {
				packages["internal/gen"] = true
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") {
				rel, err := filepath.Rel(root, filepath.Dir(p))
				if err != nil {
					return err
				}
				packages[filepath.ToSlash(rel)] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for pkg := range packages {
		if _, ok := named[pkg]; ok {
			continue
		}
		if inParent(named, pkg) {
			continue
		}
		t.Errorf("README: the table of where things live has no row for %s", pkg)
	}
}

// inParent reports whether a row of a package that pkg is inside names pkg's own name.
func inParent(named map[string][]string, pkg string) bool {
	for dir := path.Dir(pkg); dir != "." && dir != "/"; dir = path.Dir(dir) {
		for _, word := range named[dir] {
			if word == path.Base(pkg) || word == strings.TrimPrefix(pkg, dir+"/") {
				return true
			}
		}
	}
	return false
}

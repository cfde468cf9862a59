package elizacli

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Two chats at once (two terminals) each keep their place: every store succeeds, the file
// holds one of them whole, and no temporary file is left. Before, they shared one temporary
// name, and one failed to rename what the other had renamed already.
func TestStore_ChatsAtOnceEachReplaceTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for i := range 8 {
		wg.Go(func() {
			for n := range 50 {
				errs <- store(saved{Conversation: fmt.Sprintf("conversation-%d", i), Serial: uint64(n), Addr: "localhost:8080"})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	path, err := statePath()
	if err != nil {
		t.Fatal(err)
	}
	s, ok, err := load()
	if err != nil || !ok || s.Serial != 49 {
		t.Fatalf("the file holds %+v (%v, %v), want one chat's last place", s, ok, err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the file's mode: %v %v, want 0600", info, err)
	}
}

package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseDiskstats_CountsEveryKindOfCompletedRequestAndThoseInFlight(t *testing.T) {
	stats := []byte(`   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 100 0 800 50 2000 300 16000 900 3 1200 1400 7 0 56 1 40 2
 254       1 vda1 90 0 700 45 1990 300 15900 890 2 1190 1390 5 0 40 0 30 1
`)
	name, s, ok := parseDiskstats(stats, 254, 1)
	if !ok || name != "vda1" || s.Completed != 90+1990+5+30 || s.InFlight != 2 {
		t.Fatalf("vda1: %q %+v %v; want 2115 completed (reads, writes, discards, flushes), 2 in flight", name, s, ok)
	}
	// A kernel before 4.18 prints no discards or flushes.
	if _, s, ok := parseDiskstats([]byte("8 0 sda 10 0 80 5 20 0 160 9 1 12 14\n"), 8, 0); !ok || s.Completed != 30 || s.InFlight != 1 {
		t.Fatalf("an old kernel's line: %+v %v; want 30 completed, 1 in flight", s, ok)
	}
	if _, _, ok := parseDiskstats(stats, 8, 0); ok {
		t.Fatal("found a device that is not listed")
	}
}

func TestDiskPauses_AreTheIntervalsThatBeganWithARequestInFlightAndCompletedNone(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 40, 34, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	samples := []DiskSample{
		{At: at(0), Completed: 100, InFlight: 1},
		{At: at(10), Completed: 130, InFlight: 2}, // busy, completing
		{At: at(20), Completed: 130, InFlight: 2}, // stalled 10..20
		{At: at(30), Completed: 130, InFlight: 1}, // stalled 20..30
		{At: at(40), Completed: 130, InFlight: 3}, // stalled 30..40
		{At: at(50), Completed: 140, InFlight: 0}, // completed again
		{At: at(60), Completed: 140, InFlight: 0}, // idle: nothing in flight at its start
		{At: at(70), Completed: 140, InFlight: 1}, // idle at its start: not a pause
		{At: at(80), Completed: 140, InFlight: 1}, // stalled 70..80
	}
	want := []DiskPause{{Start: at(10), Length: 30 * time.Millisecond}, {Start: at(70), Length: 10 * time.Millisecond}}
	if got := DiskPauses(samples); !slices.Equal(got, want) {
		t.Fatalf("pauses %+v, want %+v", got, want)
	}
	if got := DiskPauses(samples[:1]); len(got) != 0 {
		t.Fatalf("one sample: %+v", got)
	}
}

func TestDiskOf_NamesTheDeviceThatHoldsAPathAndSaysWhyItCannot(t *testing.T) {
	if _, err := DiskOf(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "stat") {
		t.Fatalf("a path that does not exist: %v; want the stat's error", err)
	}
	// procfs is on an anonymous device (major 0) that /proc/diskstats never lists.
	if d, err := DiskOf("/proc/self"); err == nil || !strings.Contains(err.Error(), "does not list it") {
		t.Fatalf("/proc/self: %+v, %v; want the device not listed", d, err)
	}

	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if unix.Major(st.Dev) == 0 {
		t.Skipf("%s is on an anonymous device (tmpfs, overlay): no disk to name", dir)
	}
	d, err := DiskOf(dir)
	if err != nil {
		t.Fatalf("%s on device %d:%d: %v", dir, unix.Major(st.Dev), unix.Minor(st.Dev), err)
	}
	stats, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d %d %s ", unix.Major(st.Dev), unix.Minor(st.Dev), d.Name)
	if d.Name == "" || !slices.ContainsFunc(strings.Split(string(stats), "\n"), func(line string) bool {
		return strings.HasPrefix(strings.Join(strings.Fields(line), " ")+" ", want)
	}) {
		t.Fatalf("DiskOf(%s) = %q; /proc/diskstats has no line %q", dir, d.Name, want)
	}

	// Sampling it twice: the counts only grow, and each sample says when it was taken.
	a, err := d.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := d.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if b.Completed < a.Completed || !b.At.After(a.At) {
		t.Fatalf("samples %+v then %+v: counts went back or time did not move", a, b)
	}
}

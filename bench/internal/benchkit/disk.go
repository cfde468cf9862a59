package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Disk is the block device (or partition) that holds a file system, as /proc/diskstats names
// it.
type Disk struct {
	Name         string
	major, minor uint32
}

// DiskSample is what a Disk had done at one moment: the requests it had completed so far (of
// every kind: reads, writes, discards, flushes) and those in flight.
type DiskSample struct {
	At                  time.Time
	Completed, InFlight uint64
}

// DiskOf returns the disk that holds path. It fails where path is on no block device that
// /proc/diskstats lists (a network or overlay file system, or not Linux).
func DiskOf(path string) (Disk, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Disk{}, fmt.Errorf("stat %s: %w", path, err)
	}
	d := Disk{major: unix.Major(st.Dev), minor: unix.Minor(st.Dev)}
	name, _, err := d.read()
	if err != nil {
		return Disk{}, fmt.Errorf("%s is on device %d:%d: %w", path, d.major, d.minor, err)
	}
	d.Name = name
	return d, nil
}

// Sample reads what d has done so far.
func (d Disk) Sample() (DiskSample, error) {
	_, s, err := d.read()
	return s, err
}

// read finds d's line in /proc/diskstats: its name and what it has done so far.
func (d Disk) read() (string, DiskSample, error) {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return "", DiskSample{}, err
	}
	at := time.Now()
	name, s, ok := parseDiskstats(b, d.major, d.minor)
	if !ok {
		return "", DiskSample{}, errors.New("/proc/diskstats does not list it")
	}
	s.At = at
	return name, s, nil
}

// parseDiskstats finds the line of device major:minor in /proc/diskstats: its name, the
// requests it has completed (reads, writes, and discards and flushes where the kernel counts
// them) and those in flight.
func parseDiskstats(b []byte, major, minor uint32) (string, DiskSample, bool) {
	maj, mnr := []byte(strconv.FormatUint(uint64(major), 10)), []byte(strconv.FormatUint(uint64(minor), 10))
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) < 14 || !bytes.Equal(f[0], maj) || !bytes.Equal(f[1], mnr) {
			continue
		}
		field := func(i int) uint64 {
			if i >= len(f) {
				return 0
			}
			n, _ := strconv.ParseUint(string(f[i]), 10, 64)
			return n
		}
		// After major, minor and name: reads completed (3), writes completed (7), in flight
		// (11); since Linux 4.18 discards completed (14); since 5.5 flushes completed (18).
		return string(f[2]), DiskSample{Completed: field(3) + field(7) + field(14) + field(18), InFlight: field(11)}, true
	}
	return "", DiskSample{}, false
}

// DiskPause is a stretch in which a disk had requests in flight and completed none: the
// device, not the processes using it, stood still.
type DiskPause struct {
	Start  time.Time
	Length time.Duration
}

// DiskPauses finds the pauses in samples taken one after the other: the runs of intervals
// that began with a request in flight and in which no request completed. A request in flight
// at an interval's start that had completed during it would count as completed, so the disk
// completed nothing for the whole interval; a pause is at least as long as its intervals.
func DiskPauses(samples []DiskSample) []DiskPause {
	var pauses []DiskPause
	open := false // whether the last of pauses goes on
	for i := 1; i < len(samples); i++ {
		prev, cur := samples[i-1], samples[i]
		if prev.InFlight == 0 || cur.Completed != prev.Completed {
			open = false
			continue
		}
		if !open {
			pauses, open = append(pauses, DiskPause{Start: prev.At}), true
		}
		p := &pauses[len(pauses)-1]
		p.Length = cur.At.Sub(p.Start)
	}
	return pauses
}

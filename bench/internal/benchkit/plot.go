package benchkit

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Figure is one plot of a report, written as a PNG next to the report's Markdown (Finish).
type Figure struct {
	// Name makes the file's name: the report's, then "-", Name, ".png".
	Name string
	// Plot draws it.
	Plot *plot.Plot
}

// Series is a named sample of durations (a latency distribution).
type Series struct {
	Name   string
	Sample []time.Duration
}

// LatencyCDF plots each series' empirical distribution: the fraction of the sample at or
// below each latency, in milliseconds on a logarithmic axis, so that the median and the tail
// both show. Empty series are left out.
func LatencyCDF(title string, series ...Series) *plot.Plot {
	p := newPlot(title)
	p.Y.Label.Text = "fraction at or below"
	p.Y.Min, p.Y.Max = 0, 1
	if !slices.ContainsFunc(series, func(s Series) bool { return len(s.Sample) > 0 }) {
		p.Title.Text += " (no sample)" // and no log axis, which cannot be drawn empty
		return p
	}
	p.X.Label.Text = "latency (ms, log scale)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	for i, s := range series {
		if len(s.Sample) == 0 {
			continue
		}
		sorted := slices.Clone(s.Sample)
		slices.Sort(sorted)
		pts := make(plotter.XYs, len(sorted))
		for j, d := range sorted {
			// A log axis cannot show 0: a latency below a microsecond shows as one.
			pts[j] = plotter.XY{X: max(d.Seconds()*1000, 0.001), Y: float64(j+1) / float64(len(sorted))}
		}
		addLine(p, i, s.Name, pts)
	}
	return p
}

// Point is one reading of a time series: a value at an offset from the series' start.
type Point struct {
	At    time.Duration
	Value float64
}

// Line is a named time series.
type Line struct {
	Name   string
	Points []Point
}

// OverTime plots each line's values against seconds since its start, as rates: the value's
// change per second between consecutive readings when perSecond is set (for counters), else
// the values themselves.
func OverTime(title, unit string, perSecond bool, lines ...Line) *plot.Plot {
	p := newPlot(title)
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = unit
	p.Y.Min = 0
	for i, l := range lines {
		var pts plotter.XYs
		for j, pt := range l.Points {
			switch {
			case !perSecond:
				pts = append(pts, plotter.XY{X: pt.At.Seconds(), Y: pt.Value})
			case j > 0 && pt.At > l.Points[j-1].At:
				prev := l.Points[j-1]
				pts = append(pts, plotter.XY{X: pt.At.Seconds(), Y: (pt.Value - prev.Value) / (pt.At - prev.At).Seconds()})
			}
		}
		if len(pts) > 0 {
			addLine(p, i, l.Name, pts)
		}
	}
	return p
}

// newPlot is a white plot with a grid and its legend at the top left.
func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.BackgroundColor = color.White
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.Padding = vg.Points(4)
	p.Add(plotter.NewGrid())
	return p
}

// addLine adds a line of the i-th style, with its legend entry.
func addLine(p *plot.Plot, i int, name string, pts plotter.XYs) {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return // NaN or infinite values: nothing to draw
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
}

// writeFigures saves each figure as a PNG next to the report at out (out's name without its
// extension, "-", the figure's name) and returns the files' names, relative to out's
// directory.
func writeFigures(out string, figures []Figure) ([]string, error) {
	base := strings.TrimSuffix(out, filepath.Ext(out))
	var names []string
	for _, f := range figures {
		path := base + "-" + f.Name + ".png"
		if err := f.Plot.Save(8*vg.Inch, 4.5*vg.Inch, path); err != nil {
			return names, fmt.Errorf("plot %s: %w", f.Name, err)
		}
		names = append(names, filepath.Base(path))
	}
	return names, nil
}

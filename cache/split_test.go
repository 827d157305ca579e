package cache

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// names makes Cat Dataset style names: groups of 1…5 photos sharing an 8-digit prefix.
func names(groups int) []string {
	var out []string
	for g := 0; g < groups; g++ {
		for k := 0; k <= g%5; k++ {
			out = append(out, fmt.Sprintf("CAT_0%d/%08d_%03d.jpg", g%3, g+1, k))
		}
	}
	slices.Sort(out)
	return out
}

func checkPartition(t *testing.T, info SplitInfo, n int) {
	t.Helper()
	seen := make([]int, n)
	for _, idx := range [][]int{info.Train, info.Val} {
		if !slices.IsSorted(idx) {
			t.Errorf("indices not sorted: %v", idx)
		}
		for _, i := range idx {
			seen[i]++
		}
	}
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("photo %d is in %d splits", i, k)
		}
	}
}

func TestSeededSplit(t *testing.T) {
	ns := names(150)
	n := len(ns)
	cases := []struct {
		name  string
		frac  float64
		group bool
	}{
		{"7:3", 0.7, false},
		{"8:2", 0.8, false},
		{"all train", 1, false},
		{"7:3 grouped", 0.7, true},
		{"8:2 grouped", 0.8, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt := Options{TrainFraction: c.frac, Seed: 1, GroupByPrefix: c.group}
			a, _, err := makeSplit(ns, opt)
			if err != nil {
				t.Fatal(err)
			}
			checkPartition(t, a, n)
			target := int(math.Round(c.frac * float64(n)))
			if !c.group && len(a.Train) != target {
				t.Errorf("train has %d photos, want %d", len(a.Train), target)
			}
			if c.group && (len(a.Train) < target || len(a.Train) > target+4) {
				t.Errorf("train has %d photos, want %d plus less than one group of 5", len(a.Train), target)
			}
			b, _, _ := makeSplit(ns, opt)
			if !slices.Equal(a.Train, b.Train) || !slices.Equal(a.Val, b.Val) {
				t.Error("the same seed gave another split")
			}
			opt.Seed = 2
			d, _, _ := makeSplit(ns, opt)
			if c.frac < 1 && slices.Equal(a.Train, d.Train) {
				t.Error("seeds 1 and 2 gave the same split")
			}
			sides := map[string]int{}
			for bit, idx := range [][]int{a.Train, a.Val} {
				for _, i := range idx {
					p, _ := Prefix(ns[i])
					sides[p] |= 1 << bit
				}
			}
			shared := 0
			for _, s := range sides {
				if s == 3 {
					shared++
				}
			}
			if c.group && shared != 0 {
				t.Errorf("%d prefixes on both sides", shared)
			}
			if !c.group && c.frac < 1 && shared == 0 {
				t.Error("an ungrouped split kept every prefix on one side: grouping is not being tested")
			}
		})
	}
}

// TestSplitStable checks that adding photos does not move the others between sides.
func TestSplitStable(t *testing.T) {
	small, large := names(100), names(120)
	opt := Options{TrainFraction: 0.5, Seed: 9}
	a, _, _ := makeSplit(small, opt)
	b, _, _ := makeSplit(large, opt)
	side := map[string]bool{}
	for _, i := range b.Train {
		side[large[i]] = true
	}
	moved := 0
	for _, i := range a.Train {
		if !side[small[i]] {
			moved++
		}
	}
	// Growing the set moves the cut in the rank order, so a few photos near it may cross;
	// a reshuffle would move about half.
	if moved > len(a.Train)/5 {
		t.Errorf("%d of %d train photos moved to val when photos were added", moved, len(a.Train))
	}
}

func TestListSplit(t *testing.T) {
	ns := []string{"CAT_00/00000001_000.jpg", "CAT_00/00000001_001.jpg", "CAT_01/00000002_000.jpg", "CAT_01/00000003_000.jpg"}
	cases := []struct {
		name            string
		train, val      []string
		wantTr, wantVal []int
		unknown         []string
		wantErr         bool
	}{
		{"both lists, by file name and by path", []string{"00000001_000.jpg", "CAT_01/00000002_000.jpg"}, []string{"00000003_000.jpg"}, []int{0, 2}, []int{3}, nil, false},
		{"train only: val is the rest", []string{"00000001_000.jpg"}, nil, []int{0}, []int{1, 2, 3}, nil, false},
		{"val only: train is the rest", nil, []string{"00000002_000.jpg", "nosuch.jpg"}, []int{0, 1, 3}, []int{2}, []string{"nosuch.jpg"}, false},
		{"in both", []string{"00000001_000.jpg"}, []string{"CAT_00/00000001_000.jpg"}, nil, nil, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, unknown, err := makeSplit(ns, Options{TrainList: c.train, ValList: c.val})
			if c.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(info.Train, c.wantTr) || !slices.Equal(info.Val, c.wantVal) || !slices.Equal(unknown, c.unknown) {
				t.Errorf("train %v val %v unknown %v; want %v %v %v", info.Train, info.Val, unknown, c.wantTr, c.wantVal, c.unknown)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	cases := map[string]string{"00000001_000.jpg": "00000001", "CAT_06/00001234_017.jpg": "00001234", "cat.jpg": "", "0000001_000.jpg": "", "12345678.jpg": "12345678"}
	for in, want := range cases {
		got, ok := Prefix(in)
		if got != want || ok != (want != "") {
			t.Errorf("Prefix(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

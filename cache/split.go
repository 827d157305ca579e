package cache

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"path"
	"sort"
)

// Prefix returns the 8-digit ID prefix of a Cat Dataset photo name, "00000001" for
// "CAT_00/00000001_000.jpg", and whether the file name starts with 8 digits.
func Prefix(name string) (string, bool) {
	base := path.Base(name)
	if len(base) < 8 {
		return "", false
	}
	for i := 0; i < 8; i++ {
		if base[i] < '0' || base[i] > '9' {
			return "", false
		}
	}
	return base[:8], true
}

// splitKey is the unit the seeded split assigns to one side: the photo's name, or its ID
// prefix when grouping (a name without a prefix is its own group).
func splitKey(name string, group bool) string {
	if group {
		if p, ok := Prefix(name); ok {
			return "prefix:" + p
		}
	}
	return "name:" + name
}

// rank orders split units pseudo-randomly for a seed: FNV-1a of the seed and the key, mixed
// with the SplitMix64 finaliser. It depends on nothing but its arguments (no Go version's
// math/rand), so a split is the same everywhere, and adding photos moves no other unit.
func rank(seed int64, key string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(key))
	z := h.Sum64()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// makeSplit assigns the photos named by names (in cache order) to train and val, and returns
// the list names that match no photo.
func makeSplit(names []string, opt Options) (SplitInfo, []string, error) {
	if len(opt.TrainList) > 0 || len(opt.ValList) > 0 {
		return listSplit(names, opt)
	}
	info := SplitInfo{Method: "seeded", TrainFraction: opt.TrainFraction, Seed: opt.Seed, GroupByPrefix: opt.GroupByPrefix, Train: []int{}, Val: []int{}}
	type unit struct {
		key  string
		rank uint64
		idx  []int
	}
	byKey := map[string]*unit{}
	var units []*unit
	for i, n := range names {
		k := splitKey(n, opt.GroupByPrefix)
		u := byKey[k]
		if u == nil {
			u = &unit{key: k, rank: rank(opt.Seed, k)}
			byKey[k] = u
			units = append(units, u)
		}
		u.idx = append(u.idx, i)
	}
	sort.Slice(units, func(i, j int) bool {
		if units[i].rank != units[j].rank {
			return units[i].rank < units[j].rank
		}
		return units[i].key < units[j].key
	})
	target := int(math.Round(opt.TrainFraction * float64(len(names))))
	side := make([]bool, len(names)) // true: train
	train := 0
	for _, u := range units {
		if train >= target {
			break
		}
		for _, i := range u.idx {
			side[i] = true
		}
		train += len(u.idx)
	}
	for i, t := range side {
		if t {
			info.Train = append(info.Train, i)
		} else {
			info.Val = append(info.Val, i)
		}
	}
	return info, nil, nil
}

// listSplit splits by the explicit name lists.
func listSplit(names []string, opt Options) (SplitInfo, []string, error) {
	info := SplitInfo{Method: "lists", Seed: opt.Seed, Train: []int{}, Val: []int{}}
	byName := map[string]int{}
	for i, n := range names {
		byName[n] = i
		byName[path.Base(n)] = i // base names are unique: Scan skips duplicates
	}
	var unknown []string
	side := make([]int, len(names)) // 0 none, 1 train, 2 val
	for s, list := range [][]string{opt.TrainList, opt.ValList} {
		for _, n := range list {
			i, ok := byName[n]
			if !ok {
				unknown = append(unknown, n)
				continue
			}
			if side[i] != 0 && side[i] != s+1 {
				return info, nil, fmt.Errorf("cache: %s is in both the train and the val list", n)
			}
			side[i] = s + 1
		}
	}
	onlyTrain, onlyVal := len(opt.ValList) == 0, len(opt.TrainList) == 0
	for i, s := range side {
		switch {
		case s == 1, s == 0 && onlyVal:
			info.Train = append(info.Train, i)
		case s == 2, s == 0 && onlyTrain:
			info.Val = append(info.Val, i)
		}
	}
	sort.Strings(unknown)
	return info, unknown, nil
}

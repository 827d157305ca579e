package train

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run folder whose last.safetensors is gone but which holds results is refused, naming the
// missing file, and left untouched; with Restart it starts over and ends with a clean log.
func TestResumeWithoutLastCheckpoint(t *testing.T) {
	data := testCache(t, 24)
	cfg := tinyConfig(data, filepath.Join(t.TempDir(), "run"))
	cfg.Epochs = 2
	if _, err := Run(context.Background(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	best := filepath.Join(cfg.Out, bestFile)
	before, err := os.ReadFile(best)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.Out, lastFile)); err != nil {
		t.Fatal(err)
	}
	_, err = Resume(context.Background(), cfg.Out, ResumeOptions{Quiet: true}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), lastFile) || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("Resume without %s = %v, want a refusal naming it and --restart", lastFile, err)
	}
	if after, _ := os.ReadFile(best); string(after) != string(before) {
		t.Error("the refused resume changed best.safetensors")
	}
	if log, _ := ReadLog(cfg.Out); len(log) != 2 {
		t.Errorf("the refused resume left %d log lines, want 2", len(log))
	}

	if _, err := Resume(context.Background(), cfg.Out, ResumeOptions{Quiet: true, Restart: true}, io.Discard); err != nil {
		t.Fatal(err)
	}
	log, err := ReadLog(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	if got := epochs(log); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("after the restart the log has epochs %v, want [1 2] (no repeated epochs)", got)
	}
}

// A finished run resumed with more epochs trains them, and config.json records the new length.
func TestResumeExtendsARun(t *testing.T) {
	data := testCache(t, 24)
	cfg := tinyConfig(data, filepath.Join(t.TempDir(), "run"))
	cfg.Epochs = 1
	if _, err := Run(context.Background(), cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Without a change, a finished run has nothing left to do.
	res, err := Resume(context.Background(), cfg.Out, ResumeOptions{Quiet: true}, io.Discard)
	if err != nil || res.Epochs != 0 {
		t.Fatalf("resuming a finished run: %d epochs, %v; want 0 and no error", res.Epochs, err)
	}
	res, err = Resume(context.Background(), cfg.Out, ResumeOptions{Quiet: true, Epochs: 3}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 3 {
		t.Errorf("resumed with Epochs 3: the last epoch trained is %d, want 3", res.Epochs)
	}
	got, err := ReadConfig(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epochs != 3 {
		t.Errorf("config.json says %d epochs after the extension, want 3", got.Epochs)
	}
	if log, _ := ReadLog(cfg.Out); len(log) != 3 {
		t.Errorf("log has %d lines, want 3", len(log))
	}
}

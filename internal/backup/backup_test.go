package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/backup"
)

func TestWriteCheckRestore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "snap.db")
	content := bytes.Repeat([]byte("SQLite format 3\x00 pages "), 5000)
	if err := os.WriteFile(db, content, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "PRIVATE+KEY+auditkeep+0123+abcd"} {
		var buf bytes.Buffer
		m, err := backup.Write(&buf, db, key, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if m.LedgerKey != (key != "") || m.Database.Bytes != int64(len(content)) {
			t.Errorf("manifest %+v; want ledger key %v, %d bytes", m, key != "", len(content))
		}
		if key == "" && bytes.Contains(buf.Bytes(), []byte("PRIVATE+KEY")) {
			t.Error("a backup without the ledger key holds it")
		}
		if _, err := backup.Check(bytes.NewReader(buf.Bytes())); err != nil {
			t.Errorf("Check of a sound backup = %v", err)
		}
		into := filepath.Join(t.TempDir(), "data")
		if _, err := backup.Restore(bytes.NewReader(buf.Bytes()), into); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(into, backup.DatabaseName))
		if !bytes.Equal(got, content) {
			t.Error("restored database differs from the snapshot")
		}
		k, err := os.ReadFile(filepath.Join(into, backup.LedgerKeyName))
		if key == "" && err == nil || key != "" && string(k) != key+"\n" {
			t.Errorf("restored ledger key %q, %v; want %q", k, err, key)
		}
		if _, err := backup.Restore(bytes.NewReader(buf.Bytes()), into); auditkeep.ErrorCode(err) != auditkeep.ECONFLICT {
			t.Errorf("Restore over a database = %v; want ECONFLICT", err)
		}

		// A cut file and a flipped byte are refused, and leave nothing.
		whole := buf.Bytes()
		flipped := bytes.Clone(whole)
		flipped[len(flipped)/2] ^= 0x40
		for name, bad := range map[string][]byte{"cut": whole[:len(whole)-40], "flipped": flipped, "empty": nil} {
			if _, err := backup.Check(bytes.NewReader(bad)); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
				t.Errorf("Check of a %s backup = %v; want EINVALID", name, err)
			}
			fresh := t.TempDir()
			if _, err := backup.Restore(bytes.NewReader(bad), fresh); err == nil {
				t.Errorf("Restore of a %s backup succeeded", name)
			}
			if left, _ := os.ReadDir(fresh); len(left) != 0 {
				t.Errorf("Restore of a %s backup left %v", name, left)
			}
		}
	}
}

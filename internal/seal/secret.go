package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Small secrets that belong to an account but are not events (a user's
// TOTP seed) are sealed under the account's data key too, so that the
// database alone never yields them and deleting the account's keys shreds
// them with its events.
const secretPrefix = "sealed1."

// SealSecret encrypts a small secret of account for purpose, returning text
// to store: "sealed1.<key version>.<base64 nonce‖ciphertext‖tag>".
func (r *Keyring) SealSecret(ctx context.Context, accountID int64, purpose, plain string) (string, error) {
	k, err := r.Account(ctx, accountID)
	if err != nil {
		return "", err
	}
	aead, err := k.secretAEAD(k.dataVersion, purpose)
	if err != nil {
		return "", err
	}
	ct := aead.Seal(nil, nil, []byte(plain), secretAD(accountID, purpose))
	return secretPrefix + strconv.Itoa(k.dataVersion) + "." + base64.RawStdEncoding.EncodeToString(ct), nil
}

// OpenSecret decrypts text made by SealSecret for the same account and purpose.
func (r *Keyring) OpenSecret(ctx context.Context, accountID int64, purpose, sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, secretPrefix)
	v, b64, ok2 := strings.Cut(rest, ".")
	version, err := strconv.Atoi(v)
	ct, err2 := base64.RawStdEncoding.DecodeString(b64)
	if !ok || !ok2 || err != nil || err2 != nil {
		return "", fmt.Errorf("seal: not a sealed secret")
	}
	k, err := r.Account(ctx, accountID)
	if err != nil {
		return "", err
	}
	aead, err := k.secretAEAD(version, purpose)
	if err != nil {
		return "", err
	}
	plain, err := aead.Open(nil, nil, ct, secretAD(accountID, purpose))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}

func (k *AccountKeys) secretAEAD(version int, purpose string) (cipher.AEAD, error) {
	k.mu.Lock()
	key, ok := k.data[version]
	k.mu.Unlock()
	if !ok {
		// A version rotated in elsewhere: aead adopts it from the store.
		if _, err := k.aead(version, 0); err != nil {
			return nil, err
		}
		k.mu.Lock()
		key = k.data[version]
		k.mu.Unlock()
	}
	sub, err := hkdf.Key(sha256.New, key, nil, "stele secret v1 "+purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

func secretAD(accountID int64, purpose string) []byte {
	b := []byte("stele-secret-v1")
	b = binary.BigEndian.AppendUint64(b, uint64(accountID))
	return append(b, purpose...)
}

// Pseudonym returns a keyed hash of value for purpose: HMAC-SHA-256 under a
// subkey of the master key, in hex. Every node that shares the master key
// computes the same pseudonym, and nobody without it can test a guess, as
// they could against a plain hash (of an email, or of every IPv4 address).
func (r *Keyring) Pseudonym(purpose, value string) string {
	r.mu.Lock()
	m := r.master
	r.mu.Unlock()
	sub, err := hkdf.Key(sha256.New, m.key[:], nil, "stele pseudonym v1 "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths out of range
	}
	mac := hmac.New(sha256.New, sub)
	mac.Write([]byte(value))
	return hex.EncodeToString(mac.Sum(nil))
}

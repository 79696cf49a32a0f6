package seal

// OpenAppend is Open appending the plaintext to dst, so that a caller
// decrypting many payloads (the store verifier) can reuse one buffer. On
// failure it returns dst unchanged with the error.
func (k *AccountKeys) OpenAppend(dst []byte, version int, seq int64, sealed, ad []byte) ([]byte, error) {
	aead, err := k.aead(version, seq)
	if err != nil {
		return dst, err
	}
	out, err := aead.Open(dst, nil, sealed, ad)
	if err != nil {
		return dst, ErrDecrypt
	}
	return out, nil
}

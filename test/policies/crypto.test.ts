import { createHash, createHmac, generateKeyPairSync, randomBytes, sign, constants } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileCryptoFixture } from './fixtures/compile-crypto.ts';
import type { CryptoExports } from './fixtures/compile-crypto.ts';

// Hash selectors of policies/lib/crypto/hash.ts (1 is SHA-384, reached through nodeHash indices)
const SHA256 = 0;
const SHA512 = 2;
const nodeHash = ['sha256', 'sha384', 'sha512'] as const;

let lib: CryptoExports;

beforeAll(async () => {
  lib = await compileCryptoFixture();
}, 120_000);

function jwkBytes(key: KeyObject, field: 'n' | 'e' | 'x' | 'y'): Uint8Array {
  const value = key.export({ format: 'jwk' })[field];
  if (typeof value !== 'string') throw new Error(`key has no ${field}`);
  return new Uint8Array(Buffer.from(value, 'base64url'));
}

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

const message = new Uint8Array(Buffer.from('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ'));

describe('sha2', () => {
  const lengths = [0, 1, 55, 56, 63, 64, 111, 112, 127, 128, 129, 1000];
  for (const [alg, name] of nodeHash.entries()) {
    it(`matches node:crypto ${name} when the input is 0..1000 bytes around block boundaries`, () => {
      for (const length of lengths) {
        const data = randomBytes(length);
        const expected = createHash(name).update(data).digest();
        expect(Buffer.from(lib.hash(alg, new Uint8Array(data))).toString('hex')).toBe(expected.toString('hex'));
      }
    });
  }
});

describe('hmac', () => {
  for (const [alg, name] of nodeHash.entries()) {
    it(`matches node:crypto hmac-${name} when the key is shorter, equal to and longer than a block`, () => {
      for (const keyLength of [1, 32, 64, 128, 200]) {
        const key = randomBytes(keyLength);
        const data = randomBytes(300);
        const expected = createHmac(name, key).update(data).digest();
        expect(Buffer.from(lib.hmac(alg, new Uint8Array(key), new Uint8Array(data))).toString('hex'))
          .toBe(expected.toString('hex'));
        expect(lib.hmacVerify(alg, new Uint8Array(key), new Uint8Array(data), new Uint8Array(expected))).toBe(true);
      }
    });
  }

  it('rejects a tag when one bit differs or it is truncated', () => {
    const key = new Uint8Array(randomBytes(32));
    const tag = new Uint8Array(createHmac('sha256', key).update(message).digest());
    expect(lib.hmacVerify(SHA256, key, message, flipBit(tag, 31))).toBe(false);
    expect(lib.hmacVerify(SHA256, key, message, tag.subarray(0, 16))).toBe(false);
  });
});

describe('rsa', () => {
  const keys = [2048, 3072, 4096].map((bits) => ({ bits, ...generateKeyPairSync('rsa', { modulusLength: bits }) }));

  for (const { bits, privateKey, publicKey } of keys) {
    const n = jwkBytes(publicKey, 'n');
    const e = jwkBytes(publicKey, 'e');
    for (const [alg, name] of nodeHash.entries()) {
      it(`accepts a PKCS#1 v1.5 ${name} signature when the key is ${bits} bits`, () => {
        const sig = new Uint8Array(sign(name, message, privateKey));
        expect(lib.rsaVerify(false, alg, n, e, message, sig)).toBe(1);
        expect(lib.rsaVerify(false, alg, n, e, message, flipBit(sig, 100))).toBe(0);
      });
      it(`accepts a PSS ${name} signature with a hash-length salt when the key is ${bits} bits`, () => {
        const saltLength = createHash(name).digest().length;
        const sig = new Uint8Array(sign(name, message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }));
        expect(lib.rsaVerify(true, alg, n, e, message, sig)).toBe(1);
        expect(lib.rsaVerify(true, alg, n, e, message, flipBit(sig, 7))).toBe(0);
      });
    }
  }

  const [first] = keys;
  if (first === undefined) throw new Error('no key');
  const n = jwkBytes(first.publicKey, 'n');
  const e = jwkBytes(first.publicKey, 'e');

  it('rejects a signature when the message differs by one bit', () => {
    const sig = new Uint8Array(sign('sha256', message, first.privateKey));
    expect(lib.rsaVerify(false, SHA256, n, e, flipBit(message, 3), sig)).toBe(0);
  });

  it('rejects a signature when it was made with another hash', () => {
    const sig = new Uint8Array(sign('sha384', message, first.privateKey));
    expect(lib.rsaVerify(false, SHA256, n, e, message, sig)).toBe(0);
  });

  it('rejects a PSS signature when the salt is shorter than the hash', () => {
    const sig = new Uint8Array(sign('sha256', message, { key: first.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 }));
    expect(lib.rsaVerify(true, SHA256, n, e, message, sig)).toBe(0);
  });

  it('rejects a signature when it is not exactly the modulus length or not below the modulus', () => {
    const sig = new Uint8Array(sign('sha256', message, first.privateKey));
    expect(lib.rsaVerify(false, SHA256, n, e, message, sig.subarray(1))).toBe(0);
    expect(lib.rsaVerify(false, SHA256, n, e, message, new Uint8Array(256).fill(0xff))).toBe(0);
    expect(lib.rsaVerify(false, SHA256, n, e, message, n)).toBe(0);
  });

  it('refuses the key when the modulus is shorter than 2048 bits', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const sig = new Uint8Array(sign('sha256', message, small.privateKey));
    expect(lib.rsaVerify(false, SHA256, jwkBytes(small.publicKey, 'n'), jwkBytes(small.publicKey, 'e'), message, sig)).toBe(-1);
  });

  it('accepts PSS and PKCS#1 signatures when the modulus bit length is 1 mod 8 (EM one byte shorter)', () => {
    const odd = generateKeyPairSync('rsa', { modulusLength: 2049 });
    const on = jwkBytes(odd.publicKey, 'n');
    const oe = jwkBytes(odd.publicKey, 'e');
    const pss = new Uint8Array(sign('sha256', message, { key: odd.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }));
    expect(lib.rsaVerify(true, SHA256, on, oe, message, pss)).toBe(1);
    expect(lib.rsaVerify(true, SHA256, on, oe, message, flipBit(pss, 40))).toBe(0);
    const pkcs1 = new Uint8Array(sign('sha512', message, odd.privateKey));
    expect(lib.rsaVerify(false, SHA512, on, oe, message, pkcs1)).toBe(1);
  });

  it('accepts a signature when the public exponent is 3', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    const sig = new Uint8Array(sign('sha256', message, small.privateKey));
    const se = jwkBytes(small.publicKey, 'e');
    expect(Array.from(se)).toEqual([3]);
    expect(lib.rsaVerify(false, SHA256, jwkBytes(small.publicKey, 'n'), se, message, sig)).toBe(1);
  });

  it('refuses the key when the exponent is even or 1', () => {
    const sig = new Uint8Array(sign('sha256', message, first.privateKey));
    expect(lib.rsaVerify(false, SHA256, n, new Uint8Array([1, 0, 0]), message, sig)).toBe(-1);
    expect(lib.rsaVerify(false, SHA256, n, new Uint8Array([1]), message, sig)).toBe(-1);
  });

  it('verifies repeatedly with one key when scratch buffers are reused', () => {
    const sig = new Uint8Array(sign('sha256', message, first.privateKey));
    expect(lib.rsaVerifyRepeat(n, e, message, sig, 50)).toBe(50);
  });
});

describe('ecdsa', () => {
  const curves = [
    { crv: 0, namedCurve: 'P-256', hash: 'sha256' },
    { crv: 1, namedCurve: 'P-384', hash: 'sha384' },
  ] as const;
  for (const { crv, namedCurve, hash } of curves) {
    it(`accepts raw r||s ${namedCurve} signatures when they are valid and rejects them when tampered`, () => {
      for (let round = 0; round < 8; round++) {
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
        const x = jwkBytes(publicKey, 'x');
        const y = jwkBytes(publicKey, 'y');
        const data = new Uint8Array(randomBytes(40 + round));
        const sig = new Uint8Array(sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
        expect(lib.ecdsaVerify(crv, x, y, data, sig)).toBe(1);
        expect(lib.ecdsaVerify(crv, x, y, data, flipBit(sig, round))).toBe(0);
        expect(lib.ecdsaVerify(crv, x, y, data, flipBit(sig, sig.length - 1 - round))).toBe(0);
        expect(lib.ecdsaVerify(crv, x, y, flipBit(data, 0), sig)).toBe(0);
      }
    });

    it(`refuses a ${namedCurve} key when the point is not on the curve`, () => {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve });
      const x = jwkBytes(publicKey, 'x');
      const y = flipBit(jwkBytes(publicKey, 'y'), 5);
      expect(lib.ecdsaVerify(crv, x, y, message, new Uint8Array(crv === 0 ? 64 : 96))).toBe(-1);
    });

    it(`rejects a ${namedCurve} signature when r or s is zero or DER-encoded`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
      const x = jwkBytes(publicKey, 'x');
      const y = jwkBytes(publicKey, 'y');
      const size = crv === 0 ? 32 : 48;
      const der = new Uint8Array(sign(hash, message, privateKey));
      expect(lib.ecdsaVerify(crv, x, y, message, der)).toBe(0);
      const zero = new Uint8Array(2 * size);
      expect(lib.ecdsaVerify(crv, x, y, message, zero)).toBe(0);
    });
  }
});

describe('ed25519', () => {
  it('accepts a signature when it is valid and rejects it when tampered', () => {
    for (let round = 0; round < 8; round++) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const x = jwkBytes(publicKey, 'x');
      const data = new Uint8Array(randomBytes(round * 50));
      const sig = new Uint8Array(sign(null, data, privateKey));
      expect(lib.eddsaVerify(x, data, sig)).toBe(1);
      expect(lib.eddsaVerify(x, data, flipBit(sig, round))).toBe(0);
      expect(lib.eddsaVerify(x, data, flipBit(sig, 40 + round))).toBe(0);
      expect(lib.eddsaVerify(x, flipBit(data.length > 0 ? data : new Uint8Array(1), 0), sig)).toBe(0);
    }
  });

  it('rejects a signature when S is not below the group order', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const sig = new Uint8Array(sign(null, message, privateKey));
    sig.fill(0xff, 32);
    expect(lib.eddsaVerify(jwkBytes(publicKey, 'x'), message, sig)).toBe(0);
  });
});

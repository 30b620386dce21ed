"""Baseline for bench/preprocess.ts: the same decode → resize (Lanczos, 224×224, squash) →
JPEG (quality 90, 4:4:4) with Pillow, over the same photos, on N processes.
Usage: python3 preprocess-pillow.py <dataset dir> <processes>. Prints JSON."""
import io
import json
import os
import sys
import time
from multiprocessing import Pool

from PIL import Image, ImageOps


def transform(path):
    with open(path, 'rb') as f:
        data = f.read()
    img = Image.open(io.BytesIO(data))
    img = ImageOps.exif_transpose(img).convert('RGB')
    img = img.resize((224, 224), Image.LANCZOS)
    out = io.BytesIO()
    img.save(out, format='JPEG', quality=90, subsampling=0)
    return len(out.getvalue())


def main():
    root, procs = sys.argv[1], int(sys.argv[2])
    files = sorted(os.path.join(root, d, f) for d in os.listdir(root) for f in os.listdir(os.path.join(root, d)) if f.endswith('.jpg'))
    start = time.perf_counter()
    with Pool(procs) as pool:
        sizes = pool.map(transform, files, chunksize=16)
    seconds = time.perf_counter() - start
    print(json.dumps({'images': len(sizes), 'seconds': seconds, 'bytes': sum(sizes), 'pillow': Image.__version__}))


if __name__ == '__main__':
    main()

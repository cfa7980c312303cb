"""Tiny NYU Depth v2 files in the real layouts, written the way the real ones are made (for loader tests).

- ``write_nyu_csv_layout``: DenseDepth's nyu_data.zip layout: data/nyu2_train.csv + JPEG RGB and 8-bit depth PNGs
  (255 = 10 m), data/nyu2_test.csv + PNG RGB and 16-bit millimetre depth PNGs.
- ``write_labeled_mat``: nyu_depth_v2_labeled.mat as MATLAB v7.3 writes it: MATLAB arrays are column-major, so HDF5
  holds them with every axis reversed (images H x W x 3 x N -> N x 3 x W x H; depths H x W x N -> N x W x H).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode('.png', img)
    assert ok
    return buf.tobytes()


def _jpg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert ok
    return buf.tobytes()


def smooth_rgb(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth colour image (JPEG keeps it within a few levels)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.uniform(40, 200, size=3)
    img = base + 30 * np.stack([np.sin(xx / 17.0), np.cos(yy / 23.0), np.sin((xx + yy) / 31.0)], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_nyu_csv_files(rng: np.random.Generator, n_train: int = 3, n_test: int = 2, h: int = 480, w: int = 640
                       ) -> tuple[dict[str, bytes], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(zip member name -> bytes, rgb path -> (rgb uint8, depth metres expected)) for the CSV layout."""
    files: dict[str, bytes] = {}
    truth: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    train_rows, test_rows = [], []
    for i in range(n_train):
        rgb = smooth_rgb(rng, h, w)
        d8 = rng.integers(0, 256, size=(h, w), dtype=np.uint8)  # 0 = no measurement
        rgb_path, depth_path = f'data/nyu2_train/living_room_{i:04d}_out/{i + 1}.jpg', \
            f'data/nyu2_train/living_room_{i:04d}_out/{i + 1}.png'
        files[rgb_path], files[depth_path] = _jpg(rgb), _png(d8)
        truth[rgb_path] = (rgb, d8.astype(np.float64) / 255.0 * 10.0)
        train_rows.append(f'{rgb_path},{depth_path}')
    for i in range(n_test):
        rgb = smooth_rgb(rng, h, w)
        d16 = rng.integers(0, 10000, size=(h, w), dtype=np.uint16)  # millimetres
        rgb_path, depth_path = f'data/nyu2_test/{i:05d}_colors.png', f'data/nyu2_test/{i:05d}_depth.png'
        files[rgb_path], files[depth_path] = _png(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), _png(d16)
        truth[rgb_path] = (rgb, d16.astype(np.float64) / 1000.0)
        test_rows.append(f'{rgb_path},{depth_path}')
    files['data/nyu2_train.csv'] = ('\n'.join(train_rows) + '\n').encode()
    files['data/nyu2_test.csv'] = ('\r\n'.join(test_rows) + '\r\n').encode()  # the real test CSV has CRLF ends
    return files, truth


def write_nyu_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def write_nyu_dir(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def write_labeled_mat(path: Path, images_hwcn: np.ndarray, depths_hwn: np.ndarray) -> Path:
    """MATLAB-shaped arrays (H x W x 3 x N uint8, H x W x N float) stored as MATLAB v7.3 stores them."""
    import h5py

    with h5py.File(path, 'w') as f:
        f.create_dataset('images', data=np.ascontiguousarray(images_hwcn.T))  # N x 3 x W x H
        f.create_dataset('depths', data=np.ascontiguousarray(depths_hwn.T))  # N x W x H
        f.create_dataset('labels', data=np.zeros(depths_hwn.T.shape, np.uint16))
    return path

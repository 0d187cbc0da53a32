"""cryoDRGN 4.3.1 aligning particles to a known map, as one process: what `cryodrgn2 align` is compared with.

cryoDRGN has no command that only searches poses against a map; this script does what its `abinit_homo` sets up
before a search epoch, with a voxel map in place of the network: `ImageDataset` (its window and normalisation,
inverted contrast), `load_ctf_for_training`, `Lattice(D+1)`, `PoseSearch` with the abinit defaults (base_healpy 2,
t_extent 10, t_ngrid 7, niter 4, nkeptposes 8, L 12 -> 32), batches of 16, and writes the poses as a cryoDRGN .pkl.
The map's trilinear interpolation is cryodrgn2's `VoxelModel` (cryoDRGN has no voxel model for `PoseSearch`); the map
is given the least-squares amplitude at the true poses (`--true-poses`): an oracle that can only help the reference,
whose search fits no amplitude of its own. Its cost is measured and reported apart, so the caller can leave it out.

    python benchmarks/reference_align.py PARTICLES.mrcs CTF.pkl MAP.mrc OUT.pkl --true-poses POSES.pkl [--threads 2]
"""
import argparse, pickle, time
start = time.perf_counter()
import numpy as np
import torch


class ScaledMap(torch.nn.Module):
    "A voxel map times a scale, behind the interface PoseSearch expects (a module with parameters, eval mode)."
    def __init__(self, vol, scale):
        super().__init__()
        from cryodrgn2.imaging import VoxelModel
        self.model, self.scale = VoxelModel(vol), scale
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # PoseSearch reads the device from the parameters
    def forward(self, coords): return self.model(coords) * self.scale


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    for name in ('particles', 'ctf', 'volume', 'out'): p.add_argument(name)
    p.add_argument('--true-poses', help='cryoDRGN pose .pkl of the true poses (for the oracle amplitude); none: amplitude 1')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--device', default='cpu')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from cryodrgn import ctf as reference_ctf
    from cryodrgn.dataset import ImageDataset
    from cryodrgn.lattice import Lattice
    from cryodrgn.pose_search import PoseSearch
    from cryodrgn.mrcfile import parse_mrc
    data = ImageDataset(a.particles, lazy=False, invert_data=True, window=True, window_r=0.85)
    D = data.D  # D_stack + 1
    ctf_params = torch.tensor(reference_ctf.load_ctf_for_training(D - 1, a.ctf))
    vol, _ = parse_mrc(a.volume)
    model = ScaledMap(torch.as_tensor(np.asarray(vol, dtype=np.float32)), 1.0).eval().to(a.device)
    lattice = Lattice(D, extent=0.5, device=a.device)

    def batch_of(idx):
        y, params = data[list(idx)]['y'].to(a.device), ctf_params[idx].to(a.device)
        freqs = lattice.freqs2d.unsqueeze(0).expand(len(idx), *lattice.freqs2d.shape) / params[:, 0].view(-1, 1, 1)
        return y, reference_ctf.compute_ctf(freqs, *torch.split(params[:, 1:], 1, 1)).view(len(idx), D, D)

    oracle_start = time.perf_counter()
    if a.true_poses:  # <y, slice> / <slice, slice> at the true poses, on the radius-32 band the search ends with
        with open(a.true_poses, 'rb') as f: true_rots, true_trans = (torch.as_tensor(np.asarray(x), dtype=torch.float32) for x in pickle.load(f))
        mask, num, den = lattice.get_circular_mask(32), 0.0, 0.0
        with torch.no_grad():
            for s in range(0, min(data.N, 256), a.batch):
                idx = np.arange(s, min(s + a.batch, data.N, 256))
                y, ctf_i = batch_of(idx)
                shifted = lattice.translate_ht(y.view(len(idx), -1)[:, mask], true_trans[idx].unsqueeze(1).to(a.device) * (D - 1), mask).view(len(idx), -1)
                slices = model(lattice.coords[mask] @ true_rots[idx].to(a.device)).view(len(idx), -1) * ctf_i.view(len(idx), -1)[:, mask]
                num, den = num + (shifted * slices).sum().item(), den + (slices ** 2).sum().item()
        model.scale = num / den
    oracle_s = time.perf_counter() - oracle_start
    ps = PoseSearch(model, lattice, 12, 32, tilt=None, t_extent=10, t_ngrid=7, niter=4, nkeptposes=8, base_healpy=2)
    rots, trans = [], []
    search_start = time.perf_counter()
    with torch.no_grad():
        for s in range(0, data.N, a.batch):
            y, ctf_i = batch_of(np.arange(s, min(s + a.batch, data.N)))
            r, t, _ = ps.opt_theta_trans(y, ctf_i=ctf_i)
            rots.append(r); trans.append(t)
    search_s = time.perf_counter() - search_start
    rots, trans = torch.cat(rots).cpu().numpy(), torch.cat(trans).cpu().numpy()
    with open(a.out, 'wb') as f: pickle.dump((rots, trans / (D - 1)), f)  # cryoDRGN: translations as a fraction of the box
    print(f'reference: {data.N} images; oracle amplitude {model.scale:.4g} in {oracle_s:.2f} s; search {search_s:.1f} s; '
          f'whole process {time.perf_counter() - start:.1f} s after the interpreter started', flush=True)
    print(f'oracle_seconds={oracle_s:.3f}')


if __name__ == '__main__': main()

"""``Normalize``, the one torchvision transform Lucent uses."""

import torch


class Normalize(torch.nn.Module):
    def __init__(self, mean, std, inplace=False):
        super().__init__()
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)

    def forward(self, x):
        shape = (-1, 1, 1)  # (..., C, H, W), as torchvision
        return (x - self.mean.to(x).reshape(shape)) / self.std.to(x).reshape(shape)

    __call__ = forward

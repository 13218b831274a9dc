"""Small reference models and data that ship with polylens (no downloads).

Used by the demo, the examples, the benchmarks and the tests: scikit-learn's digits (8x8
images) and two moons, architectures of each kind the exact engine supports, and a
seeded trainer that takes seconds on one CPU thread.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from polylens.models.predict import predicted_class

__all__ = [
    "digits_data", "moons_data", "train_classifier",
    "mlp", "digits_cnn", "digits_resnet", "digits_conv1d", "vgg_style_cnn", "resnet18_style",
]


def digits_data(seed: int = 0, test_fraction: float = 0.25):
    """scikit-learn's digits as float32 tensors scaled to [0, 1].

    Returns
    -------
    X_train, y_train, X_test, y_test : torch.Tensor
        Images of shape (n, 1, 8, 8) and int64 labels 0..9.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(y) * test_fraction)
    test, train = perm[:n_test], perm[n_test:]
    return X[train], y[train], X[test], y[test]


def moons_data(n_samples: int = 400, noise: float = 0.15, seed: int = 0):
    """scikit-learn's two moons: float32 points of shape (n, 2) and int64 labels.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    """
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)


def train_classifier(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int = 30,
                     batch_size: int = 128, lr: float = 0.01, seed: int = 0) -> float:
    """Train with Adam and cross-entropy (a single logit: binary cross-entropy).

    The model is trained in place and left in eval mode. Returns the training accuracy.

    Raises
    ------
    None of its own
        A model or data of the wrong shape fails inside torch.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), batch_size):
            idx = perm[start:start + batch_size]
            opt.zero_grad()
            out = model(X[idx])
            if out.shape[1] == 1:
                loss = F.binary_cross_entropy_with_logits(out[:, 0], y[idx].float())
            else:
                loss = F.cross_entropy(out, y[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        out = model(X)
        pred = predicted_class(out)
    return float((pred == y).float().mean())


def mlp(sizes: list[int], activation=nn.ReLU, seed: int = 0) -> nn.Sequential:
    """A seeded MLP ``sizes[0]-...-sizes[-1]`` with ``activation`` between Linear layers.

    Raises
    ------
    None of its own
    """
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def digits_cnn(seed: int = 0, channels: tuple[int, int] = (8, 16)) -> nn.Sequential:
    """Conv2d + BatchNorm + ReLU + MaxPool, twice, then a Linear head (1x8x8 -> 10).

    Raises
    ------
    None of its own
    """
    torch.manual_seed(seed)
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 2 * 2, 10),
    )


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(h)))


class DigitsResNet(nn.Module):
    """A stem convolution, one residual block, global average pooling, a Linear head."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.block = _ResidualBlock(channels)
        self.head = nn.Linear(channels, 10)

    def forward(self, x):
        h = self.block(torch.relu(self.stem(x)))
        return self.head(h.mean(dim=(2, 3)))


def digits_resnet(seed: int = 0, channels: int = 8) -> DigitsResNet:
    """A residual CNN for 1x8x8 digits (see :class:`DigitsResNet`).

    Raises
    ------
    None of its own
    """
    torch.manual_seed(seed)
    return DigitsResNet(channels)


def digits_conv1d(seed: int = 0) -> nn.Sequential:
    """Conv1d over the 64 pixels as a 1-channel sequence: (n, 1, 64) -> 10.

    Raises
    ------
    None of its own
    """
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(1, 4, 5, stride=2, padding=2), nn.LeakyReLU(0.1), nn.MaxPool1d(2),
        nn.Conv1d(4, 8, 3, padding=1, dilation=1, groups=2), nn.Hardtanh(),
        nn.AvgPool1d(2), nn.Flatten(), nn.Linear(8 * 8, 10),
    )


def vgg_style_cnn(seed: int = 0, n_classes: int = 10) -> nn.Sequential:
    """conv64-conv64-pool-conv128-conv128-pool-fc on 3x32x32 inputs (random weights).

    Raises
    ------
    None of its own
    """
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 8 * 8, n_classes),
    ).eval()


class BasicBlock(nn.Module):
    """torchvision's ResNet ``BasicBlock``: two 3x3 convolutions with BatchNorm, an
    optional 1x1 downsampling shortcut, ``out += identity`` and one ReLU module used twice."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet18Style(nn.Module):
    """torchvision's ResNet-18 layout (a plain ``nn.Module``, fx-traceable): a 7x7 stem
    with BatchNorm, ReLU and 3x3 max pooling, four stages of two :class:`BasicBlock`,
    adaptive average pooling, ``torch.flatten`` and a Linear head."""

    def __init__(self, widths: tuple[int, int, int, int] = (64, 128, 256, 512), n_classes: int = 1000,
                 in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages, width = [], widths[0]
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(BasicBlock(width, w, stride=1 if i == 0 else 2), BasicBlock(w, w)))
            width = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width, n_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18_style(seed: int = 0, widths: tuple[int, int, int, int] = (64, 128, 256, 512), n_classes: int = 1000,
                   in_channels: int = 3) -> ResNet18Style:
    """A seeded torchvision-style ResNet-18 in eval mode, with random BatchNorm statistics
    (so that every BatchNorm is a non-trivial affine map); see :class:`ResNet18Style`.

    Raises
    ------
    None of its own
    """
    torch.manual_seed(seed)
    model = ResNet18Style(widths, n_classes, in_channels)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()

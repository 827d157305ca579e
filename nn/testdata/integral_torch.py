# Makes testdata/integral.json: an integral head (1×1 conv → softmax over cells → expected
# position on the grid j/(W−1), i/(H−1); presence = sigmoid(fc(mean over cells))) computed by
# PyTorch, with its gradients, for TestIntegralHeadTorch.  Run: python3 testdata/integral_torch.py
import json, torch
torch.manual_seed(3)
N, C, H, W, K = 2, 5, 3, 4, 3
x = torch.randn(N, C, H, W, dtype=torch.float64, requires_grad=True)
conv = torch.nn.Conv2d(C, K, 1).double()
fc = torch.nn.Linear(C, 1).double()
z = conv(x).reshape(N, K, H * W)
p = torch.softmax(z, dim=2)
u = (torch.arange(W, dtype=torch.float64) / (W - 1)).repeat(H)
v = (torch.arange(H, dtype=torch.float64) / (H - 1)).repeat_interleave(W)
pts = torch.stack([(p * u).sum(2), (p * v).sum(2)], dim=2).reshape(N, 2 * K)
pres = torch.sigmoid(fc(x.mean(dim=(2, 3))))
y = torch.cat([pts, pres], dim=1)
r = torch.randn_like(y)
(y * r).sum().backward()
f = lambda t: t.detach().reshape(-1).tolist()
json.dump({"shape": [N, C, H, W, K], "x": f(x), "conv_w": f(conv.weight), "conv_b": f(conv.bias),
           "fc_w": f(fc.weight), "fc_b": f(fc.bias), "r": f(r), "y": f(y), "dx": f(x.grad),
           "dconv_w": f(conv.weight.grad), "dconv_b": f(conv.bias.grad), "dfc_w": f(fc.weight.grad),
           "dfc_b": f(fc.bias.grad)}, open("testdata/integral.json", "w"))

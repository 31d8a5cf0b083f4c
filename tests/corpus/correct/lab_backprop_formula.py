"""The lab's backprop formula, y = log(exp(x_1·x_2)² + sin(x_3 + x_4 + x_5)·x_5), one backward."""
import torch

from gradtrace import trace

with trace() as t:
    x_1, x_2, x_3, x_4, x_5 = (torch.tensor([v], requires_grad=True)
                               for v in (1.0, 2.0, -1.0, 3.0, 5.0))
    y = torch.log(torch.exp(x_1 * x_2) ** 2 + torch.sin(x_3 + x_4 + x_5) * x_5)
    y.backward()

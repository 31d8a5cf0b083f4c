"""Build examples/lab2_autograd.ipynb: the autograd lab, cell by cell, traced with %%gradtrace."""

# Run `python examples/make_notebook.py` after changing a cell here. The notebook is committed
# without outputs, and every cell has a fixed id, so the file is the same on every run.

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parent / "lab2_autograd.ipynb"

# (id, kind, source): code cells whose id is in TRACED start with %%gradtrace
CELLS: list[tuple[str, str, str]] = [
    ("intro", "md", """\
# Lab 2: the basics of autograd, traced

Each computation of the lab runs under `%%gradtrace`, which shows what PyTorch's autograd did:
every forward op with the tensor it made (its name in the code, shape, value, `grad_fn`), then
every backward step in the order autograd ran it, and the graph. The cell itself runs as usual:
its variables stay and its last value is still shown below it."""),
    ("setup", "code", "import torch\n\n%load_ext gradtrace"),
    ("case1-md", "md", """\
## Case 1: f(x) = x²

For one number x the derivative is 2x: `x.grad` should be twice `x`. `-o t` keeps the trace
in `t`."""),
    ("square", "code", """\
%%gradtrace -o t
torch.manual_seed(0)
x = torch.rand(1, requires_grad=True)
y = x**2
y.backward()
x.grad"""),
    ("square-check", "code", "x.grad == 2 * x, t.grad(\"x\")"),
    ("case2-md", "md", """\
## Case 2: a scalar function, f(x) = x₁ + … + x₅

The gradient is a vector of ones. `--sections` picks what is shown; here the tensors table too."""),
    ("sum", "code", """\
%%gradtrace --sections warnings,forward,backward,tensors,graph
torch.manual_seed(0)
x = torch.rand([5], requires_grad=True)
y = x.sum()
y.backward()
x.grad"""),
    ("chain-md", "md", """\
## Composition: y = g(f(x)) with z = log(x) and y = z²

The chain rule gives ∂y/∂z = 2z and ∂y/∂x = 2 log(x) / x. PyTorch keeps no `.grad` for the
intermediate `z`; gradtrace calls `retain_grad()` on it, so `z.grad` is readable after the cell
(turn this off with `--no-retain`)."""),
    ("chain", "code", """\
%%gradtrace
x = torch.tensor([0.9460], requires_grad=True)
z = x.log()
y = z**2
y.backward()
print("gradient of x:", x.grad)
z.grad"""),
    ("cos-log-md", "md", """\
## A more complicated example: c = cos(x₁) · log(x₂)

The backward table shows the order autograd ran the nodes: the product first, then each
branch down to the leaf's `AccumulateGrad`."""),
    ("cos-log", "code", """\
%%gradtrace
x_1 = torch.tensor([3.0], requires_grad=True)
x_2 = torch.tensor([2.0], requires_grad=True)
c = x_1.cos() * x_2.log()
c.backward()
print(x_1.grad)
print(x_2.grad)"""),
    ("accumulate-md", "md", """\
## Gradient accumulation

The same computation again, on the same leaves: `backward()` adds to `.grad`, so the gradients
double. gradtrace warns about it and says how to reset them."""),
    ("accumulate", "code", """\
%%gradtrace
c = x_1.cos() * x_2.log()
c.backward()
print(x_1.grad, x_2.grad)"""),
    ("reset", "code", "x_1.grad = None\nx_2.grad = None"),
    ("leaky-md", "md", """\
## A custom, non-parametric function: Leaky ReLU

A `torch.autograd.Function` shows as one step named after its class; its own `backward` is the
node `LeakyReLU_FunBackward`. The gradient is 0.01 for negative inputs and 1 otherwise."""),
    ("leaky-def", "code", """\
class LeakyReLU_Fun(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_):
        ctx.save_for_backward(input_)
        return torch.max(input_, input_ * 0.01)

    @staticmethod
    def backward(ctx, grad_output):
        input_, = ctx.saved_tensors  # the lab's `input_ = ctx.saved_tensors` gets a tuple
        grad_input = torch.ones_like(input_)
        grad_input[input_ < 0] = 0.01
        grad_input *= grad_output
        return grad_input"""),
    ("leaky", "code", """\
%%gradtrace
fun = LeakyReLU_Fun.apply
x = torch.linspace(-5, 5, 11, requires_grad=True)
y = fun(x)
z = y.sum()
z.backward()
x.grad"""),
    ("param-md", "md", """\
## A parametric module: ParamReLU with α = 0.25

The module's op runs inside `prelu`; `alpha` is a plain float and gets no gradient."""),
    ("param-def", "code", """\
class ParamReLU_Fun(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_, alpha: float):
        assert alpha >= 0 and alpha < 1, f"alpha should be >= 0 and < 1. Found {alpha}."
        ctx.save_for_backward(input_)
        ctx.alpha = alpha
        return torch.max(input_, input_ * alpha)

    @staticmethod
    def backward(ctx, grad_output):
        input_, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input_ < 0] *= ctx.alpha
        return grad_input, None


class ParamReLU(torch.nn.Module):
    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha

    def forward(self, X):
        return ParamReLU_Fun.apply(X, self.alpha)"""),
    ("param-relu", "code", """\
%%gradtrace
prelu = ParamReLU(0.25)
x = torch.linspace(-5, 5, 11, requires_grad=True)
y = prelu(x)
z = y.sum()
z.backward()
print(x.grad)"""),
    ("formula-md", "md", """\
## Backpropagation by hand, checked

x = [1, 2, -1, 3, 5] and y = log(exp(x₁·x₂)² + sin(x₃ + x₄ + x₅)·x₅). Each row of the backward
table is one step of the manual backpropagation: compare them with yours."""),
    ("formula", "code", """\
%%gradtrace -o formula
x_1 = torch.tensor(1.0, requires_grad=True)
x_2 = torch.tensor(2.0, requires_grad=True)
x_3 = torch.tensor(-1.0, requires_grad=True)
x_4 = torch.tensor(3.0, requires_grad=True)
x_5 = torch.tensor(5.0, requires_grad=True)
y = torch.log(torch.exp(x_1 * x_2) ** 2 + torch.sin(x_3 + x_4 + x_5) * x_5)
y.backward()
y"""),
    ("formula-grads", "code", "[formula.grad(name).item() for name in formula.names[:5]]"),
    ("sigmoid-md", "md", """\
## Backpropagation through modules: y = σ(wᵀx)

The lab's `bce_loss` with ground truth 1 (as the lab writes it: it logs the ground truth).
The weight is named by its module path, `model.module1.weight`."""),
    ("sigmoid-def", "code", """\
class TrivialBackpropagationExample(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.module1 = torch.nn.Linear(in_features=5, out_features=1, bias=False)
        self.module1.weight.data = torch.Tensor([3, 0, 1, -3, .5])

    def forward(self, data):
        return torch.sigmoid(self.module1(data))


def bce_loss(y_hat, y):
    return (-1/len(y)) * (y_hat * y.log() + (1 - y_hat) * (1 - y.log())).sum()


ground_truth = torch.tensor([1.0])"""),
    ("sigmoid", "code", """\
%%gradtrace
model = TrivialBackpropagationExample()
x = torch.tensor([1, 2, -1, 3, 5], dtype=torch.float32, requires_grad=True)
y_hat = model(x)
loss = bce_loss(y_hat, ground_truth)
loss.backward()
x.grad"""),
]

#: the ids of the traced cells
TRACED = tuple(cid for cid, kind, src in CELLS if src.startswith("%%gradtrace"))


def build() -> nbformat.NotebookNode:
    """The notebook, without outputs, with fixed cell ids."""
    cells = []
    for cid, kind, source in CELLS:
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell.id = cid
        cells.append(cell)
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nb


def main() -> None:
    nbformat.write(build(), OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

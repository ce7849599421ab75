"""Detection post-processing: NonMaxSuppression (opset9)."""

from __future__ import annotations

import numpy as np
from kiln.errors import ShapeInferenceError
from kiln.ir.op import Attr, AttrKind, Op
from kiln.ir.ops._shape_values import known_ints
from kiln.ir.types import ElementType


def _error(node, message: str) -> ShapeInferenceError:
    return ShapeInferenceError(f"node {node.name!r} ({node.type_name}): {message}")


def _corners(boxes: np.ndarray, encoding: str) -> np.ndarray:
    """Return boxes as [y_min, x_min, y_max, x_max] (float64) from corner or center encoding."""
    boxes = boxes.astype(np.float64)
    if encoding == "center":
        xc, yc, w, h = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]
        return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)
    y1, x1, y2, x2 = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]
    return np.stack([np.minimum(y1, y2), np.minimum(x1, x2), np.maximum(y1, y2), np.maximum(x1, x2)], axis=-1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Return the intersection over union of ``box`` with each of ``others`` (0 where degenerate)."""
    top = np.maximum(box[0], others[:, 0])
    left = np.maximum(box[1], others[:, 1])
    bottom = np.minimum(box[2], others[:, 2])
    right = np.minimum(box[3], others[:, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    valid = (inter > 0) & (area > 0) & (areas > 0) & (union > 0)
    return np.where(valid, inter / np.where(union > 0, union, 1), 0.0)


class NonMaxSuppression(Op):
    """Select, per batch and class, up to ``max_output_boxes_per_class`` boxes in descending score
    order (ties: lower index first) whose score exceeds ``score_threshold`` and whose IoU with
    every box selected before is at most ``iou_threshold``.

    Outputs ``selected_indices`` [M, 3] (batch, class, box) and ``selected_scores`` [M, 3]
    (batch, class, score), M = batches * classes * min(max boxes, boxes), padded with -1
    after the ``valid_outputs`` real rows; rows are in batch, class, selection order unless
    ``sort_result_descending`` orders all of them by score.
    """

    type_name = "NonMaxSuppression"
    version = "opset9"
    attributes = {"box_encoding": Attr(AttrKind.STR, "corner"),
                  "sort_result_descending": Attr(AttrKind.BOOL, True),
                  "output_type": Attr(AttrKind.ETYPE, ElementType.i64)}
    num_inputs = (2, 6)

    @classmethod
    def infer(cls, node):
        boxes, scores = node.inputs[:2]
        itype = node.attrs["output_type"]
        rows = None
        limit = known_ints(node.inputs[2]) if len(node.inputs) > 2 else [0]
        if scores.shape is not None and None not in scores.shape and limit is not None:
            b, c, n = scores.shape
            rows = b * c * min(max(limit[0], 0), n)
        return [(itype, (rows, 3)), (scores.element_type, (rows, 3)), (itype, (1,))]

    @classmethod
    def evaluate(cls, node, inputs):
        boxes, scores = inputs[:2]

        def scalar(index, default):
            if len(inputs) <= index or inputs[index].size == 0:
                return default
            return inputs[index].reshape(-1)[0].item()

        limit = max(int(scalar(2, 0)), 0)
        iou_threshold = float(scalar(3, 0.0))
        score_threshold = scalar(4, None)
        if float(scalar(5, 0.0)) != 0.0:
            raise _error(node, "soft NMS (soft_nms_sigma != 0) is not implemented")
        b, c, n = scores.shape
        if boxes.shape != (b, n, 4):
            raise _error(node, f"boxes {list(boxes.shape)} do not match scores {list(scores.shape)}")
        corners = _corners(boxes, node.attrs["box_encoding"])
        selected = []
        for batch in range(b):
            for cls_index in range(c):
                class_scores = scores[batch, cls_index].astype(np.float64)
                order = np.argsort(-class_scores, kind="stable")
                if score_threshold is not None:
                    order = order[class_scores[order] > score_threshold]
                kept: list[int] = []
                for box in order:
                    if len(kept) >= limit:
                        break
                    if kept and (_iou(corners[batch, box], corners[batch, kept]) > iou_threshold).any():
                        continue
                    kept.append(int(box))
                selected += [(batch, cls_index, box, class_scores[box]) for box in kept]
        if node.attrs["sort_result_descending"]:
            selected.sort(key=lambda row: -row[3])
        rows = b * c * min(limit, n)
        itype = node.attrs["output_type"].numpy
        indices = np.full((rows, 3), -1, itype)
        chosen_scores = np.full((rows, 3), -1, scores.dtype)
        for i, (batch, cls_index, box, score) in enumerate(selected):
            indices[i] = (batch, cls_index, box)
            chosen_scores[i] = (batch, cls_index, score)
        return [indices, chosen_scores, np.asarray([len(selected)], itype)]

"""A real ML backend for the tests, built on Label Studio's `label-studio-ml` package: a small
keyword classifier for a sentiment project. It predicts each task from words it knows, and
records every webhook event (ANNOTATION_CREATED, START_TRAINING, ...) it is sent to EVENTS.

Usage: ml_backend.py PORT EVENTS MODEL_DIR
"""

import json
import sys

from label_studio_ml.api import init_app
from label_studio_ml.model import LabelStudioMLBase

PORT, EVENTS, MODEL_DIR = int(sys.argv[1]), sys.argv[2], sys.argv[3]

POSITIVE = {"love", "great", "good", "excellent", "happy"}
NEGATIVE = {"hate", "awful", "bad", "terrible", "sad"}


class KeywordClassifier(LabelStudioMLBase):
    TRAIN_EVENTS = LabelStudioMLBase.TRAIN_EVENTS + ("START_TRAINING",)

    def predict(self, tasks, **kwargs):
        from_name, info = next(iter(self.parsed_label_config.items()))
        to_name = info["to_name"][0]
        out = []
        for task in tasks:
            words = set(str(task["data"].get("text", "")).lower().split())
            if words & POSITIVE:
                label, score = "positive", 0.9
            elif words & NEGATIVE:
                label, score = "negative", 0.8
            else:
                label, score = "neutral", 0.4
            out.append({
                "result": [{
                    "from_name": from_name,
                    "to_name": to_name,
                    "type": "choices",
                    "value": {"choices": [label]},
                }],
                "score": score,
                "model_version": "keywords-1",
            })
        return out

    def fit(self, tasks, workdir=None, **kwargs):
        with open(EVENTS, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": kwargs.get("event"), "data": kwargs.get("data")}) + "\n")
        return {"events": 1}


app = init_app(model_class=KeywordClassifier, model_dir=MODEL_DIR)
app.run(host="127.0.0.1", port=PORT, debug=False, use_reloader=False)

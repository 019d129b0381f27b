"""Multi-label text classification with a plain PyTorch loop.

Each WNUT-16 tweet gets the set of entity types its human annotation contains (person, geo-loc,
company, ...): one binary task per type. ``dq.set_tasks_for_run`` names the tasks, the dataset's
``label`` column holds each tweet's list of positive tasks, and the model logs one sigmoid logit
per task. Model: the offline MiniLM backbone with a linear multi-label head.

    python examples/multi_label.py
"""

import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset
from transformers import AutoModel, AutoTokenizer

import dataquality as dq
from offline_data import ROWS, model_path, wnut16

MODEL = model_path()


def load() -> tuple[pd.DataFrame, list[str]]:
    rows = wnut16(ROWS + ROWS // 4)
    df = pd.DataFrame({
        "id": range(len(rows)),
        "text": [" ".join(r["tokens"]) for r in rows],
        "label": [sorted({t[2:] for t in r["ner_tags"] if t != "O"}) for r in rows],
    })
    tasks = sorted({t for labels in df["label"] for t in labels})
    return df, tasks


def main(project_name: str = "examples", run_name: str = "multi-label", epochs: int = 2):
    df, tasks = load()
    train_df, val_df = df.iloc[:ROWS], df.iloc[ROWS:]
    dq.init(task_type="text_multi_label", project_name=project_name, run_name=run_name)
    dq.set_tasks_for_run(tasks, binary=True)
    dq.log_dataset(train_df, split="training")
    dq.log_dataset(val_df, split="validation")

    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    backbone = AutoModel.from_pretrained(MODEL)
    head = torch.nn.Linear(backbone.config.hidden_size, len(tasks))
    optimizer = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=5e-5)

    def loader(part: pd.DataFrame, shuffle: bool) -> DataLoader:
        enc = tokenizer(part["text"].tolist(), truncation=True, max_length=48, padding="max_length",
                        return_tensors="pt")
        targets = torch.tensor([[float(t in labels) for t in tasks] for labels in part["label"]])
        ids = torch.tensor(part["id"].to_numpy())
        return DataLoader(TensorDataset(ids, enc["input_ids"], enc["attention_mask"], targets),
                          batch_size=16, shuffle=shuffle)

    torch.manual_seed(0)
    train_dl, val_dl = loader(train_df, True), loader(val_df, False)
    for epoch in range(epochs):
        for split, dl in (("training", train_dl), ("validation", val_dl)):
            dq.set_epoch_and_split(epoch, split)
            backbone.train(split == "training")
            for ids, x, mask, y in dl:
                with torch.set_grad_enabled(split == "training"):
                    emb = backbone(input_ids=x, attention_mask=mask).last_hidden_state[:, 0]
                    logits = head(emb)
                    dq.log_model_outputs(ids=ids, embs=emb, logits=logits)  # (batch, n_tasks)
                    if split == "training":
                        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
    dq.finish()
    print(dq.metrics.get_metrics(project_name, run_name, "validation", task=tasks[0]))


if __name__ == "__main__":
    main()

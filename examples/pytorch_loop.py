"""Text classification with a plain PyTorch loop, logging from the model's forward pass.

The shape of Galileo's PyTorch quickstart: log the dataset (``id, text, label``), set the split
and epoch in the loop, call ``dq.log_model_outputs`` inside ``forward``, then ``dq.finish()``.
Data: Rotten Tomatoes snippets; model: the offline MiniLM backbone with a linear head.

    python examples/pytorch_loop.py
"""

import torch
from torch.utils.data import DataLoader, Dataset
from transformers import AutoModel, AutoTokenizer

import dataquality as dq
from offline_data import LABELS, model_path, rotten_tomatoes

MODEL = model_path()
tokenizer = AutoTokenizer.from_pretrained(MODEL)


class TextDataset(Dataset):
    """Tokenized texts; each item carries its sample id for dq.log_model_outputs."""

    def __init__(self, df):
        self.ids = df["id"].tolist()
        self.labels = df["label"].tolist()
        self.enc = tokenizer(df["text"].tolist(), truncation=True, max_length=64, padding="max_length",
                             return_tensors="pt")

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return self.ids[i], self.enc["input_ids"][i], self.enc["attention_mask"][i], self.labels[i]


class TextClassificationModel(torch.nn.Module):
    def __init__(self, num_labels: int):
        super().__init__()
        self.feature_extractor = AutoModel.from_pretrained(MODEL)
        self.classifier = torch.nn.Linear(self.feature_extractor.config.hidden_size, num_labels)

    def forward(self, input_ids, attention_mask, ids):
        hidden = self.feature_extractor(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        emb = hidden[:, 0]
        logits = self.classifier(emb)
        dq.log_model_outputs(ids=ids, embs=emb, logits=logits)  # 🔭 one call per batch
        return logits


def main(project_name: str = "examples", run_name: str = "pytorch-loop", epochs: int = 2):
    train_df, val_df = rotten_tomatoes()
    dq.init(task_type="text_classification", project_name=project_name, run_name=run_name)
    dq.set_labels_for_run(LABELS)
    dq.log_dataset(train_df, split="training")
    dq.log_dataset(val_df, split="validation")

    torch.manual_seed(0)
    model = TextClassificationModel(len(LABELS))
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    train_dl = DataLoader(TextDataset(train_df), batch_size=16, shuffle=True)
    val_dl = DataLoader(TextDataset(val_df), batch_size=32)
    for epoch in range(epochs):
        dq.set_epoch_and_split(epoch, "training")
        model.train()
        for ids, x, mask, y in train_dl:
            loss = torch.nn.functional.cross_entropy(model(x, mask, ids), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        dq.set_split("validation")
        model.eval()
        correct = 0
        with torch.no_grad():
            for ids, x, mask, y in val_dl:
                correct += int((model(x, mask, ids).argmax(1) == y).sum())
        print(f"epoch {epoch}: validation accuracy {correct / len(val_df):.3f}")
    dq.finish()
    print(dq.metrics.get_dataframe(project_name, run_name, "training").sort_values(
        "data_error_potential", ascending=False).head()[["id", "text", "gold", "pred", "data_error_potential"]]
        .to_string())
    return model


if __name__ == "__main__":
    main()

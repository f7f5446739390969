FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY services ./services
COPY ens ./ens
RUN pip install --no-cache-dir .
USER nobody
CMD ["ens", "run", "notifier"]

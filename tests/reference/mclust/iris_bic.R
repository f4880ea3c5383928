# Reference BIC table and best model from R's mclust on iris[, 1:4] (150 x 4).
#
# Regenerate from the repository root:
#     Rscript tests/reference/mclust/iris_bic.R
# Writes iris_bic.csv and iris_best.csv next to this script (located from Rscript's
# --file= argument; otherwise the working directory must be the repo root). The table
# code is shared with faithful_bic.R, which is sourced from the same folder.

file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- if (length(file_arg) == 1) dirname(normalizePath(sub("^--file=", "", file_arg))) else
  file.path(getwd(), "tests", "reference", "mclust")
source(file.path(here, "faithful_bic.R"))  # bic_table(), write_table(); its main does not run

X <- as.matrix(datasets::iris[, 1:4])
result <- bic_table(X)
write_table(result$table, file.path(here, "iris_bic.csv"))
print(summary(result$bic))

# BIC-best model over all 14 models x G = 1:9, refitted from the same hc start.
best <- summary(result$bic, X)
d <- ncol(X); G <- best$G; m <- best$modelName
df <- nMclustParams(m, d = d, G = G)
stopifnot(abs(best$bic - (2 * best$loglik - df * log(nrow(X)))) < 1e-6 * abs(best$bic))
cat(sprintf("best: %s G=%d bic=%.10g loglik=%.10g df=%d\n", m, G, best$bic, best$loglik, df))

fmt <- function(x) sprintf("%.10g", x)
pro <- best$parameters$pro
mu <- best$parameters$mean                # d x G
sigma <- best$parameters$variance$sigma   # d x d x G
rows <- lapply(seq_len(G), function(k) {
  row <- data.frame(model = m, n_components = G, bic = fmt(best$bic),
                    log_likelihood = fmt(best$loglik), n_parameters = df,
                    component = k, proportion = fmt(pro[k]))
  for (i in seq_len(d)) row[[paste0("mean_", i)]] <- fmt(mu[i, k])
  S <- sigma[, , k]
  for (i in seq_len(d)) for (j in seq_len(d)) row[[sprintf("cov_%d_%d", i, j)]] <- fmt(S[i, j])
  row
})
path <- file.path(here, "iris_best.csv")
write.csv(do.call(rbind, rows), path, row.names = FALSE, quote = FALSE)
cat("wrote", path, "\n")
